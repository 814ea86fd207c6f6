package gpu

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/slak-web/slak/engine/op"
)

// The run-time kernel tuner (issue 6, items 3 and 6). The choices between kernels are static
// rules tuned on the two software adapters (dwFastWorthOn: fast one-pass depthwise vs direct by
// plane size and taps; DWZeroSkip: off; the GEMM path). A real GPU in a user's browser behaves
// differently from both, so Backend.Tune times the candidate kernels of each distinct layer
// configuration of a loaded network on this device, interleaved after one warm-up each (the timing
// primitive of engine/bench: record, Flush with WaitOnFlush, i.e. device poll natively and
// onSubmittedWorkDone in the browser), and records the winner per configuration. The dispatch
// code asks the tuned choice first (Backend.dwFastWorth, dwZeroSkip, matmulFastConv's subgroup
// hook) and falls back to the static rules where nothing was tuned.
//
// Cost is bounded: candidates the static rules call hopeless are not timed (the direct kernel on
// ≥ 400-pixel planes with ≥ 49 taps, measured 2–5× slower on both software adapters; the one-pass
// kernel on < 128-pixel planes, 0.27× on lavapipe; the zero-tap skip on weights with < 20%
// zeros), a configuration with a single candidate left is decided without timing, a candidate
// whose first sample is over 3× the best first sample is dropped, samples are capped, and the whole
// tune stops timing at TuneOptions.Budget (configurations left keep the static rules).

// Candidate names.
const (
	TuneDirect   = "direct"        // the direct kernels (dwconv.wgsl, summed with add.wgsl)
	TuneFast     = "fast"          // dwconv_fast.wgsl without the zero-tap skip
	TuneSkipZero = "fast_skipzero" // dwconv_fast.wgsl with SKIPZERO
	TuneGEMM     = "gemm"          // the static GEMM path (matmul_fast_v4.wgsl / matmul_fast.wgsl)
	TuneSubgroup = "subgroups"     // matmul_sg.wgsl (devices with the subgroups feature)
	// matmul_sg.wgsl's other configurations (sgVariants): 16 rows × 16 pixels and 32 rows × 8
	// pixels per invocation; _lnpass: pw1's LayerNorm as a pass before the GEMM.
	TuneSubgroupP16     = "subgroups_p16"
	TuneSubgroupP16LN   = "subgroups_p16_lnpass"
	TuneSubgroupR32P8   = "subgroups_r32p8"
	TuneSubgroupR32P8LN = "subgroups_r32p8_lnpass"
)

// TuneLayer is one distinct layer configuration of a network (engine/model's Net.Configs lists
// them): a depthwise branch set (Kind "dwconv" with one branch, "dwconvsum") or a pointwise GEMM
// (Kind "lnlineargelu", "linearscaleresidual", "linear").
type TuneLayer struct {
	Kind  string
	Name  string // the first layer with this configuration (for the report)
	Count int    // layers of the network that share it
	DW    []op.DWConv
	// Weights are the first layer's depthwise weights on this backend (one per branch), so that
	// the zero-tap skip is timed on the network's own sparsity; nil: random dense weights.
	Weights []op.Tensor
	Lin     op.Linear
}

// TuneOptions bound the cost of Backend.Tune.
type TuneOptions struct {
	Samples int           // timed samples per candidate after one warm-up each (default 3, at most 9)
	Budget  time.Duration // stop timing when this much has been spent (default 2 min)
	// Progress, when set, is called before each configuration (done of total) and at the end.
	Progress func(done, total int, what string)
	// Stop, when set, is asked before each configuration and before each timed run; when it
	// says true, Tune returns at once with TuneReport.Stopped: the configuration being timed
	// keeps the static rule (its samples are dropped), the ones decided keep their choices, and
	// TuneReport.Left counts the configurations not decided. The app stops for a person's
	// request and resumes later with Skip.
	Stop func() bool
	// Skip holds configuration keys (TuneResult.Config) decided by an earlier, stopped Tune:
	// they are not visited again.
	Skip map[string]bool

	clock func(cand string, run func() error) (float64, error) // tests: a fake timer
}

// TuneCandidate is one candidate kernel of a configuration.
type TuneCandidate struct {
	Name      string    `json:"name"`
	MedianMs  float64   `json:"median_ms,omitempty"`
	SamplesMs []float64 `json:"samples_ms,omitempty"`
	Skipped   string    `json:"skipped,omitempty"` // why it was not timed (or dropped)
}

// TuneResult is the decision for one configuration.
type TuneResult struct {
	Config     string          `json:"config"`
	Kind       string          `json:"kind"`
	Layer      string          `json:"layer"`
	Count      int             `json:"count"`
	ZeroFrac   float64         `json:"zero_frac,omitempty"` // zeros in the depthwise weights timed
	Static     string          `json:"static"`              // the static rule's choice
	Winner     string          `json:"winner,omitempty"`    // "" when nothing was decided (static rule kept)
	Speedup    float64         `json:"speedup_vs_static,omitempty"`
	Candidates []TuneCandidate `json:"candidates"`
	Note       string          `json:"note,omitempty"`
}

// TuneReport is what Backend.Tune did.
type TuneReport struct {
	Adapter string       `json:"adapter"`
	Results []TuneResult `json:"results"`
	Timed   int          `json:"timed_samples"` // runs timed, warm-ups included
	Seconds float64      `json:"seconds"`
	Stopped bool         `json:"stopped,omitempty"` // TuneOptions.Stop ended it early
	Left    int          `json:"left,omitempty"`    // configurations not decided when stopped
}

// errTuneStopped ends tuneOne when TuneOptions.Stop says so.
var errTuneStopped = errors.New("tune: stopped")

// String is a short table of the report (one line per configuration).
func (r *TuneReport) String() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "kernel tuning on %s: %d configurations, %d timed runs, %.1f s\n", r.Adapter, len(r.Results), r.Timed, r.Seconds)
	for _, res := range r.Results {
		fmt.Fprintf(&sb, "  %-58s ×%-2d static %-13s", res.Config, res.Count, res.Static)
		if res.Winner != "" {
			fmt.Fprintf(&sb, " → %-13s", res.Winner)
		} else {
			sb.WriteString(" (kept)        ")
		}
		for _, c := range res.Candidates {
			if c.MedianMs > 0 {
				fmt.Fprintf(&sb, " %s %.2f ms", c.Name, c.MedianMs)
			}
		}
		if res.Note != "" {
			sb.WriteString("; " + res.Note)
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// tuneState holds a backend's tuned choices: configuration key → candidate name; off hides
// them (UseTuning(false)).
type tuneState struct {
	dw, mm map[string]string
	off    bool
}

// tunings maps each tuned Backend to its choices (kept outside the Backend struct so that the
// dispatch code of other files needs no new field; one small entry per tuned backend).
var (
	tuneMu  sync.Mutex
	tunings = map[*Backend]*tuneState{}
)

func (b *Backend) tuneState(create bool) *tuneState {
	tuneMu.Lock()
	defer tuneMu.Unlock()
	s := tunings[b]
	if s == nil && create {
		s = &tuneState{dw: map[string]string{}, mm: map[string]string{}}
		tunings[b] = s
	}
	return s
}

// ClearTuning forgets every tuned choice: the static rules apply again.
func (b *Backend) ClearTuning() {
	tuneMu.Lock()
	delete(tunings, b)
	tuneMu.Unlock()
}

// UseTuning switches the tuned choices on (the default) or off (the static rules, choices
// kept): the A/B switch of tools/bench -ab tune.
func (b *Backend) UseTuning(on bool) {
	s := b.tuneState(true)
	tuneMu.Lock()
	s.off = !on
	tuneMu.Unlock()
}

// Tuned reports the tuned choices as configuration key → candidate.
func (b *Backend) Tuned() map[string]string {
	out := map[string]string{}
	if s := b.tuneState(false); s != nil {
		tuneMu.Lock()
		defer tuneMu.Unlock()
		for k, v := range s.dw {
			out[k] = v
		}
		for k, v := range s.mm {
			out[k] = v
		}
	}
	return out
}

func (b *Backend) tunedChoice(mm bool, key string) (string, bool) {
	s := b.tuneState(false)
	if s == nil {
		return "", false
	}
	tuneMu.Lock()
	defer tuneMu.Unlock()
	if s.off {
		return "", false
	}
	m := s.dw
	if mm {
		m = s.mm
	}
	c, ok := m[key]
	return c, ok
}

func (b *Backend) setChoice(mm bool, key, cand string) {
	s := b.tuneState(true)
	tuneMu.Lock()
	defer tuneMu.Unlock()
	m := s.dw
	if mm {
		m = s.mm
	}
	if cand == "" {
		delete(m, key)
	} else {
		m[key] = cand
	}
}

// dwTuneKey names a depthwise branch set by what the kernel choice depends on (not the bias).
func dwTuneKey(ps []op.DWConv) string {
	var sb strings.Builder
	if len(ps) > 0 {
		fmt.Fprintf(&sb, "dw C%d %dx%d", ps[0].C, ps[0].H, ps[0].W)
	}
	for _, p := range ps {
		fmt.Fprintf(&sb, " k%dx%d/p%d,%d/s%d", p.KH, p.KW, p.PadH, p.PadW, p.Stride)
	}
	return sb.String()
}

// mmTuneKey names a pointwise GEMM with its prologue (ln) and epilogue (epi 0 bias, 1 GELU,
// 2 scale + residual).
func mmTuneKey(p op.Linear, ln bool, epi int) string {
	return fmt.Sprintf("gemm %d->%d HW%d ln=%v epi=%d", p.In, p.Out, p.HW, ln, epi)
}

// dwTunedFast is the tuned one-pass-vs-direct choice for ps, if any.
func (b *Backend) dwTunedFast(ps []op.DWConv) (fast, ok bool) {
	c, ok := b.tunedChoice(false, dwTuneKey(ps))
	return c != TuneDirect, ok
}

// dwZeroSkip is the SKIPZERO substitution of dwconv_fast.wgsl for ps: the DWZeroSkip switch
// forces it on; otherwise the tuned choice decides (off when untuned).
func (b *Backend) dwZeroSkip(ps []op.DWConv) bool {
	if DWZeroSkip {
		return true
	}
	c, _ := b.tunedChoice(false, dwTuneKey(ps))
	return c == TuneSkipZero
}

// Hopeless-candidate rules (see the package comment of this file).
const (
	tuneDirectMinPx   = 400 // direct not timed on planes this large …
	tuneDirectMinTaps = 49  // … with this many taps in all
	tuneFastMinPx     = 128 // one-pass kernel not timed below
	tuneSkipMinZeros  = 0.2 // zero-tap skip not timed on weights with fewer zeros
	tuneDropFactor    = 3.0 // a first sample this much slower than the best drops the candidate
	tuneMaxSamples    = 9
)

// tunePlan is one configuration to decide: its candidates (hopeless ones marked Skipped), the
// static choice, and the call that runs it once with the current choice and flushes.
type tunePlan struct {
	res    TuneResult
	key    string
	macs   float64 // per layer: with Count, the order in which the budget is spent
	mm     bool
	prep   func() (run func() error, free func(), err error)
	static string
	// verify, when set, runs the variant candidates and the static path once on the prepared
	// inputs and says, by candidate name, why a variant is wrong (nothing when all agree): a kernel
	// that only some devices compile (matmul_sg.wgsl) is checked on the device before it can win
	// there.
	verify func() (map[string]string, error)
}

// Tune times the candidate kernels of each configuration of layers on this device and records the
// winners (used by later dispatches until ClearTuning). Configurations with the same key are
// merged, and the configurations are visited by their share of a forward (MACs × Count), largest
// first. It returns the report even when it stops early on the budget; an error means a
// candidate failed to run (the choices made so far stay).
func (b *Backend) Tune(layers []TuneLayer, o TuneOptions) (*TuneReport, error) {
	if o.Samples <= 0 {
		o.Samples = 3
	}
	o.Samples = min(o.Samples, tuneMaxSamples)
	if o.Budget <= 0 {
		o.Budget = 2 * time.Minute
	}
	start := time.Now()
	rep := &TuneReport{Adapter: b.info.Name}
	plans, err := b.tunePlans(layers)
	if err != nil {
		return rep, err
	}
	b.UseTuning(true)
	savedWait := b.WaitOnFlush
	b.WaitOnFlush = true
	defer func() { b.WaitOnFlush = savedWait }()
	clock := o.clock
	if clock == nil {
		clock = func(_ string, run func() error) (float64, error) {
			t0 := time.Now()
			err := run()
			return float64(time.Since(t0).Nanoseconds()) / 1e6, err
		}
	}
	defer func() { rep.Seconds = time.Since(start).Seconds() }()
	if len(o.Skip) > 0 {
		left := plans[:0]
		for _, pl := range plans {
			if !o.Skip[pl.key] {
				left = append(left, pl)
			}
		}
		plans = left
	}
	stop := func() bool { return o.Stop != nil && o.Stop() }
	for i, pl := range plans {
		if o.Progress != nil {
			o.Progress(i, len(plans), pl.res.Config)
		}
		if stop() { // after Progress, which may yield to the page (and to a request)
			rep.Stopped, rep.Left = true, len(plans)-i
			return rep, nil
		}
		res := pl.res
		var live []string
		for _, c := range res.Candidates {
			if c.Skipped == "" {
				live = append(live, c.Name)
			}
		}
		switch {
		case len(live) <= 1:
			if len(live) == 1 && live[0] != pl.static {
				res.Winner = live[0]
				b.setChoice(pl.mm, pl.key, live[0])
			}
			if res.Note == "" {
				res.Note = "one candidate left: not timed"
			}
		case time.Since(start) >= o.Budget:
			res.Note = fmt.Sprintf("tuning budget of %s spent: static rule kept", o.Budget)
		default:
			run, free, err := pl.prep()
			if err != nil {
				return rep, fmt.Errorf("tune %s: %w", res.Config, err)
			}
			if pl.verify != nil {
				wrong, err := pl.verify()
				if err != nil {
					free()
					b.setChoice(pl.mm, pl.key, "")
					return rep, fmt.Errorf("tune %s: check: %w", res.Config, err)
				}
				if live = dropWrong(&res, live, wrong); len(live) <= 1 { // only the static path is left
					b.setChoice(pl.mm, pl.key, "")
					free()
					rep.Results = append(rep.Results, res)
					continue
				}
			}
			cands, win, n, err := tuneOne(live, o.Samples, func(c string) (float64, error) {
				if stop() {
					return 0, errTuneStopped
				}
				b.setChoice(pl.mm, pl.key, c)
				return clock(c, run)
			})
			free()
			rep.Timed += n
			if errors.Is(err, errTuneStopped) {
				b.setChoice(pl.mm, pl.key, "")
				rep.Stopped, rep.Left = true, len(plans)-i
				return rep, nil
			}
			if err != nil {
				b.setChoice(pl.mm, pl.key, "")
				return rep, fmt.Errorf("tune %s: %w", res.Config, err)
			}
			for j, c := range res.Candidates {
				for _, t := range cands {
					if t.Name == c.Name {
						res.Candidates[j] = t
					}
				}
			}
			res.Winner = win
			b.setChoice(pl.mm, pl.key, win)
			var sm, wm float64
			for _, c := range res.Candidates {
				if c.Name == pl.static {
					sm = c.MedianMs
				}
				if c.Name == win {
					wm = c.MedianMs
				}
			}
			if sm > 0 && wm > 0 {
				res.Speedup = sm / wm
			}
		}
		rep.Results = append(rep.Results, res)
	}
	if o.Progress != nil {
		o.Progress(len(plans), len(plans), "done")
	}
	return rep, nil
}

// dropWrong marks the candidates the on-device check found wrong as skipped (the reason in the
// result's note too) and returns the live candidates left.
func dropWrong(res *TuneResult, live []string, wrong map[string]string) []string {
	if len(wrong) == 0 {
		return live
	}
	var left []string
	for _, c := range live {
		if _, bad := wrong[c]; !bad {
			left = append(left, c)
		}
	}
	var notes []string
	for j, c := range res.Candidates {
		if why, bad := wrong[c.Name]; bad {
			res.Candidates[j].Skipped = "disagrees with the static path on this device: " + why
			notes = append(notes, c.Name+" disagrees: "+why)
		}
	}
	res.Note = strings.Join(notes, "; ")
	return left
}

// tuneOne runs each candidate once to warm up, then samples rounds, candidates interleaved in
// every round; after the first round a candidate over tuneDropFactor× the best first sample is
// dropped. The winner has the smallest median (ties: the first listed). n counts the runs.
func tuneOne(cands []string, samples int, time1 func(cand string) (float64, error)) (out []TuneCandidate, winner string, n int, err error) {
	ts := make([][]float64, len(cands))
	dropped := make([]string, len(cands))
	for round := -1; round < samples; round++ {
		for i, c := range cands {
			if dropped[i] != "" {
				continue
			}
			ms, err := time1(c)
			if errors.Is(err, errTuneStopped) {
				return nil, "", n, err
			}
			n++
			if err != nil {
				return nil, "", n, fmt.Errorf("candidate %s: %w", c, err)
			}
			if round >= 0 {
				ts[i] = append(ts[i], ms)
			}
		}
		if round == 0 {
			best := -1.0
			for i := range cands {
				if best < 0 || ts[i][0] < best {
					best = ts[i][0]
				}
			}
			for i := range cands {
				if ts[i][0] > tuneDropFactor*best {
					dropped[i] = fmt.Sprintf("dropped after 1 sample: %.1f× the best", ts[i][0]/best)
				}
			}
		}
	}
	bestMed := -1.0
	for i, c := range cands {
		s := append([]float64(nil), ts[i]...)
		sort.Float64s(s)
		tc := TuneCandidate{Name: c, SamplesMs: ts[i], Skipped: dropped[i], MedianMs: s[len(s)/2]}
		if len(s)%2 == 0 {
			tc.MedianMs = (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
		out = append(out, tc)
		if dropped[i] == "" && (bestMed < 0 || tc.MedianMs < bestMed) {
			bestMed, winner = tc.MedianMs, c
		}
	}
	return out, winner, n, nil
}

// tunePlans merges layers by key and lists each configuration's candidates.
func (b *Backend) tunePlans(layers []TuneLayer) ([]tunePlan, error) {
	var plans []tunePlan
	index := map[string]int{}
	for _, l := range layers {
		var pl tunePlan
		var err error
		switch l.Kind {
		case "dwconv", "dwconvsum":
			pl, err = b.dwTunePlan(l)
		case "lnlineargelu", "linearscaleresidual", "linear":
			pl, err = b.mmTunePlan(l)
		default:
			err = fmt.Errorf("tune: unknown layer kind %q (%s)", l.Kind, l.Name)
		}
		if err != nil {
			return nil, err
		}
		if i, ok := index[pl.key]; ok {
			plans[i].res.Count += max(l.Count, 1)
			continue
		}
		index[pl.key] = len(plans)
		plans = append(plans, pl)
	}
	// the configurations that take the most of a forward first, so that a budget that runs out
	// leaves the static rules on the cheap ones
	sort.SliceStable(plans, func(i, j int) bool {
		return plans[i].macs*float64(plans[i].res.Count) > plans[j].macs*float64(plans[j].res.Count)
	})
	return plans, nil
}

func (b *Backend) dwTunePlan(l TuneLayer) (tunePlan, error) {
	ps := l.DW
	if len(ps) == 0 || (l.Weights != nil && len(l.Weights) != len(ps)) {
		return tunePlan{}, fmt.Errorf("tune %s: %d branches, %d weights", l.Name, len(ps), len(l.Weights))
	}
	q, err := tuneBranches(l)
	if err != nil {
		return tunePlan{}, err
	}
	key := dwTuneKey(q)
	pl := tunePlan{key: key, res: TuneResult{Config: key, Kind: l.Kind, Layer: l.Name, Count: max(l.Count, 1)}}
	plan, ok, static := dwStatic(q)
	pl.static, pl.res.Static = static, static
	if !ok {
		pl.res.Candidates = []TuneCandidate{{Name: TuneDirect}}
		pl.res.Note = "the one-pass kernel cannot take these shapes"
		return pl, nil
	}
	zf := -1.0 // zero fraction, -1: unknown (random weights)
	if l.Weights != nil {
		zeros, n := 0, 0
		for _, w := range l.Weights {
			v, err := b.Download(w)
			if err != nil {
				return tunePlan{}, fmt.Errorf("tune %s: weights: %w", l.Name, err)
			}
			for _, f := range v {
				if f == 0 {
					zeros++
				}
			}
			n += len(v)
		}
		zf = float64(zeros) / float64(max(n, 1))
		pl.res.ZeroFrac = zf
	}
	px, taps := plan.OH*plan.OW, 0
	for _, p := range q {
		taps += p.KH * p.KW
	}
	direct, fast, skip := TuneCandidate{Name: TuneDirect}, TuneCandidate{Name: TuneFast}, TuneCandidate{Name: TuneSkipZero}
	if px >= tuneDirectMinPx && taps >= tuneDirectMinTaps {
		direct.Skipped = fmt.Sprintf("static rule: %d px, %d taps (direct measured 2–5× slower)", px, taps)
	}
	if px < tuneFastMinPx {
		fast.Skipped = fmt.Sprintf("static rule: %d px < %d (one-pass kernel idles most invocations)", px, tuneFastMinPx)
		skip.Skipped = fast.Skipped
	} else if zf < tuneSkipMinZeros {
		skip.Skipped = "weights have fewer than 20% zeros"
		if zf < 0 {
			skip.Skipped = "no weights given (random dense)"
		}
	}
	pl.res.Candidates = []TuneCandidate{direct, fast, skip}
	pl.macs = float64(p0Len(q) * taps)
	pl.prep = func() (func() error, func(), error) {
		r := rand.New(rand.NewPCG(6, uint64(len(key))))
		p0 := q[0]
		var owned []op.Tensor
		free := func() {
			for _, t := range owned {
				b.Free(t)
			}
		}
		up := func(n int, shape ...int) (op.Tensor, error) {
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(r.NormFloat64())
			}
			t, err := b.Upload(v, shape...)
			if err == nil {
				owned = append(owned, t)
			}
			return t, err
		}
		x, err := up(p0.C*p0.H*p0.W, p0.C, p0.H, p0.W)
		if err != nil {
			return nil, free, err
		}
		bias, err := up(p0.C, p0.C)
		if err != nil {
			free()
			return nil, nil, err
		}
		ws := l.Weights
		if ws == nil {
			for _, p := range q {
				w, err := up(p.C*p.KH*p.KW, p.C, p.KH, p.KW)
				if err != nil {
					free()
					return nil, nil, err
				}
				ws = append(ws, w)
			}
		}
		run := func() error {
			var y op.Tensor
			var err error
			if len(q) == 1 {
				p := q[0]
				p.Bias = true
				y, err = b.DWConv(x, ws[0], bias, p)
			} else {
				y, err = b.DWConvSum(x, ws, bias, q)
			}
			if err != nil {
				return err
			}
			b.Free(y)
			return b.Flush()
		}
		return run, free, nil
	}
	return pl, nil
}

// tuneBranches is l's depthwise branches as the tuner keys them: validated, Bias cleared.
func tuneBranches(l TuneLayer) ([]op.DWConv, error) {
	q := make([]op.DWConv, len(l.DW))
	for i, p := range l.DW {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("tune %s: %w", l.Name, err)
		}
		q[i] = p
		q[i].Bias = false
	}
	return q, nil
}

// dwStatic is the static rule's candidate for the branch set q (Bias cleared), with the one-pass
// plan (ok false: the one-pass kernel cannot take the shapes).
func dwStatic(q []op.DWConv) (plan dwFastPlan, ok bool, static string) {
	plan, ok = planDWFast(q, true)
	static = TuneDirect
	if ok && dwFastWorth(plan, q) {
		static = TuneFast
		if DWZeroSkip {
			static = TuneSkipZero
		}
	}
	return plan, ok, static
}

// mmKind is the prologue (ln) and epilogue (epi) of a pointwise layer kind, as mmTuneKey names them.
func mmKind(kind string) (ln bool, epi int) {
	switch kind {
	case "lnlineargelu":
		return true, 1
	case "linearscaleresidual":
		return false, 2
	}
	return false, 0
}

// TuneChoice says which candidate runs l's configuration on b now: the tuned choice when Tune
// (or LoadTuned) decided it and tuning is on (tuned true), else the static rule's. key is the
// configuration key (TuneResult.Config) the dispatch code looks the choice up by, so a caller
// can check that its layers hit the configurations a Tune decided (engine/bench records it per
// row).
func (b *Backend) TuneChoice(l TuneLayer) (key, choice string, tuned bool, err error) {
	switch l.Kind {
	case "dwconv", "dwconvsum":
		if len(l.DW) == 0 {
			return "", "", false, fmt.Errorf("tune %s: no branches", l.Name)
		}
		q, err := tuneBranches(l)
		if err != nil {
			return "", "", false, err
		}
		key = dwTuneKey(q)
		if c, ok := b.tunedChoice(false, key); ok {
			return key, c, true, nil
		}
		_, _, static := dwStatic(q)
		return key, static, false, nil
	case "lnlineargelu", "linearscaleresidual", "linear":
		if err := l.Lin.Validate(); err != nil {
			return "", "", false, fmt.Errorf("tune %s: %w", l.Name, err)
		}
		ln, epi := mmKind(l.Kind)
		key = mmTuneKey(l.Lin, ln, epi)
		if c, ok := b.tunedChoice(true, key); ok {
			return key, c, true, nil
		}
		if GEMMSubgroups != "" { // the forced configuration, where the dispatch takes it
			if _, ok := b.useSG(l.Lin, ln, epi); ok {
				return key, GEMMSubgroups, false, nil
			}
		}
		return key, TuneGEMM, false, nil
	}
	return "", "", false, fmt.Errorf("tune: unknown layer kind %q (%s)", l.Kind, l.Name)
}

// p0Len is the output size C·OH·OW of a branch set.
func p0Len(q []op.DWConv) int { return q[0].C * q[0].OutH() * q[0].OutW() }

func (b *Backend) mmTunePlan(l TuneLayer) (tunePlan, error) {
	p := l.Lin
	if err := p.Validate(); err != nil {
		return tunePlan{}, fmt.Errorf("tune %s: %w", l.Name, err)
	}
	ln, epi := mmKind(l.Kind)
	key := mmTuneKey(p, ln, epi)
	pl := tunePlan{key: key, mm: true, static: TuneGEMM,
		res: TuneResult{Config: key, Kind: l.Kind, Layer: l.Name, Count: max(l.Count, 1), Static: TuneGEMM}}
	pl.res.Candidates = []TuneCandidate{{Name: TuneGEMM}}
	var sgNames []string // the subgroup candidates this device can run for p
	for _, name := range sgCandidates(ln) {
		sg := TuneCandidate{Name: name}
		if ok, why := b.sgGEMMTakes(p, sgVariants[name]); !ok {
			sg.Skipped = why
			pl.res.Note = why
		} else {
			sgNames = append(sgNames, name)
		}
		pl.res.Candidates = append(pl.res.Candidates, sg)
	}
	var output func(cand string) ([]float32, error) // set by prep: one output with cand chosen
	pl.macs = float64(p.In) * float64(p.Out) * float64(p.HW)
	pl.prep = func() (func() error, func(), error) {
		r := rand.New(rand.NewPCG(7, uint64(p.In*p.Out)))
		var owned []op.Tensor
		free := func() {
			for _, t := range owned {
				b.Free(t)
			}
		}
		var in []op.Tensor
		for _, s := range [][]int{{p.In, p.HW}, {p.Out, p.In}, {p.Out}, {p.In}, {p.In}, {p.Out}, {p.Out, p.HW}} {
			n := 1
			for _, d := range s {
				n *= d
			}
			v := make([]float32, n)
			for i := range v {
				v[i] = float32(r.NormFloat64() * 0.1)
			}
			t, err := b.Upload(v, s...)
			if err != nil {
				free()
				return nil, nil, err
			}
			owned = append(owned, t)
			in = append(in, t)
		}
		x, w, bias, g, be, gs, res := in[0], in[1], in[2], in[3], in[4], in[5], in[6]
		lin := p
		lin.Bias = true
		call := func() (op.Tensor, error) {
			switch epi {
			case 1:
				return b.LNLinearGELU(x, g, be, w, bias, op.LayerNorm{C: p.In, HW: p.HW, Eps: 1e-6}, lin)
			case 2:
				return b.LinearScaleResidual(x, w, bias, gs, res, lin)
			}
			return b.Linear(x, w, bias, lin)
		}
		output = func(cand string) ([]float32, error) {
			b.setChoice(true, key, cand)
			y, err := call()
			if err != nil {
				return nil, err
			}
			defer b.Free(y)
			return b.Download(y)
		}
		run := func() error {
			y, err := call()
			if err != nil {
				return err
			}
			b.Free(y)
			return b.Flush()
		}
		return run, free, nil
	}
	if len(sgNames) > 0 {
		pl.verify = func() (map[string]string, error) {
			want, err := output(TuneGEMM)
			if err != nil {
				return nil, err
			}
			wrong := map[string]string{}
			for _, name := range sgNames {
				got, err := output(name)
				if err != nil {
					return nil, err
				}
				if why := sgDisagrees(got, want); why != "" {
					wrong[name] = why
					if b.sgWrong == nil {
						b.sgWrong = map[sgVariant]string{}
					}
					b.sgWrong[sgVariants[name]] = why // not used again on this device
				}
			}
			return wrong, nil
		}
	}
	return pl, nil
}

// sgDisagrees compares matmul_sg.wgsl's output with the static GEMM's on the same inputs and
// says why it is wrong ("" when it agrees). Both are f32 sums of the same K products in different
// orders (|Δ| ≲ 4√K·u·Σ|terms|, under 1e-5 of the output scale at K = 3992 with these N(0, 0.1)
// inputs); 1e-3 of the largest |y| leaves a wide margin and still catches a broadcast from the
// wrong lane (errors of the order of |y|).
func sgDisagrees(got, want []float32) string {
	if len(got) != len(want) {
		return fmt.Sprintf("matmul_sg.wgsl gave %d values, want %d", len(got), len(want))
	}
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	tol := 1e-3*scale + 1e-6
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); !(d <= tol) {
			return fmt.Sprintf("matmul_sg.wgsl disagrees with the static GEMM on this device: element %d got %g, want %g (tolerance %.3g)", i, got[i], want[i], tol)
		}
	}
	return ""
}
