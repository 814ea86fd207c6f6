// Package bench measures the GPU engine's fast kernels against its direct kernels on the named
// layers of SLaK-T at 224² and on whole forwards of SLaK-T, ConvNeXt-T and RepLKNet-31B, with a
// measured fp32 FMA peak of the adapter as the roofline (ENGINE.md §5). It has no native-only
// code: tools/bench runs it natively (lavapipe, or a hardware Vulkan driver) and prints JSON; the
// app can run it in the browser on the engine goroutine.
//
// Timing: each sample records the op (or forward) and calls Backend.Flush, which submits the
// command buffer and waits for completion (device poll natively, onSubmittedWorkDone on js).
// Each row is measured with the fast kernels (Backend.Direct = false) and the direct kernels
// (Direct = true) in the same run, from the same inputs, samples interleaved (fast, direct, fast,
// …) so that a shared machine's load hits both alike; the ratio is direct/fast of the medians.
//
// Forward rows also break the last fast sample down by op kind (fast_ms_by_op). Config.AB (tools/bench
// -ab v4|long|tall|wide) instead measures each layer row as an interleaved A/B of two fast
// variants, the way the GEMM variants were chosen.
//
// results/ keeps recorded runs (`go run ./tools/bench > results/<adapter>_<date>.json`); on a
// shared 2-core machine absolute times and % of peak drift with other processes' load, the
// interleaved ratios much less.
package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/model"
	"github.com/slak-web/slak/engine/op"
	"github.com/slak-web/slak/weights"
	"github.com/slak-web/slak/weights/convert"
)

// Machine describes the host (filled by the caller: /proc/cpuinfo natively, the navigator in a
// browser).
type Machine struct {
	NProc    int    `json:"nproc"`
	CPUModel string `json:"cpu_model"`
	OS       string `json:"os"`
	Note     string `json:"note,omitempty"`
}

// Config selects what runs and how often.
type Config struct {
	Reps        int    // samples per layer row (after one warm-up); default 10
	ForwardReps int    // samples per whole forward, fast and direct each; default 1 (a direct SLaK-T forward takes tens of seconds on lavapipe)
	Filter      string // run only rows whose name contains Filter ("" = all)
	Forwards    bool   // include whole-network forwards
	Sparsity    float64
	Log         func(string) // progress lines (may be nil)
	// AB, when set, measures each layer row (not the sparse ones) as an interleaved A/B of two
	// fast variants instead of fast vs direct: AB.Set(true) selects A, Set(false) B. Forward
	// rows too when ForwardAB is set.
	AB        *AB
	ForwardAB bool
	// HalfWeights uploads the GEMM weights (pw1/pw2 W, stem and downsample conv W; in the
	// forwards every model.HalfKey weight) as half tensors (gpu.Backend.UploadF16) of the
	// random values rounded to binary16, as an F16 model file loads (engine/model/half.go).
	HalfWeights bool
	// Tune, when set to a variant (e.g. "slak_t"), first runs the run-time kernel tuner
	// (gpu.Backend.Tune) on that model's layer configurations at 224² (random weights at
	// Sparsity, 0.4 when 0: the app's built-in model), as the app does after loading a model, so
	// that the rows run with the choices the app runs; Report.Tune keeps the tuner's report and
	// Row.Kernel says which candidate each row ran. With a Filter and no forward selected, only
	// the configurations of the selected rows are tuned. The choices stay on b.
	Tune        string
	TuneSamples int           // timed samples per candidate (default 2, as the app)
	TuneBudget  time.Duration // the tuner's budget (default gpu.TuneOptions': 2 min)
}

// AB names a switch between two fast variants (e.g. gpu.GEMMVec4 on/off) for Config.AB.
type AB struct {
	Name string
	Set  func(on bool)
}

// Row is one measured layer or forward.
type Row struct {
	Name     string  `json:"name"`
	Kind     string  `json:"kind"` // dwconv, dwconvsum, lnlineargelu, linearscaleresidual, conv2d, forward, fmapeak
	Shape    string  `json:"shape"`
	MACs     float64 `json:"dense_macs"`
	Reps     int     `json:"reps"`
	MedianMs float64 `json:"median_ms"`
	MinMs    float64 `json:"min_ms"`
	GFLOPs   float64 `json:"gflops"`       // 2·MACs / median
	PctPeak  float64 `json:"pct_fma_peak"` // GFLOPs / measured FMA peak · 100
	// DirectMedianMs and Speedup compare with the direct kernels in the same run.
	DirectMedianMs float64 `json:"direct_median_ms,omitempty"`
	// For the *_sparse40 rows: the same fast kernel without the zero-tap skip, same weights, and
	// its time over the zero-skip time (SLaK's sparsity path; see gpu.DWZeroSkip).
	NoSkipMedianMs float64 `json:"noskip_median_ms,omitempty"`
	SparseSpeedup  float64 `json:"sparse_speedup,omitempty"`
	DirectMinMs    float64 `json:"direct_min_ms,omitempty"`
	Speedup        float64 `json:"speedup_vs_direct,omitempty"`
	Note           string  `json:"note,omitempty"`
	// Kernel (rows of a tunable configuration, and forwards) is the candidate that ran the row's
	// configuration (gpu.Backend.TuneChoice): "subgroups (tuned)", "fast (static rule)"; a
	// pointwise row checks it against the subgroup GEMM's dispatch count and says so in Note when
	// they disagree.
	Kernel string `json:"kernel,omitempty"`
	// A/B rows (Config.AB): the median with the switch off, and off/on.
	ABName        string  `json:"ab,omitempty"`
	ABOffMedianMs float64 `json:"ab_off_median_ms,omitempty"`
	ABSpeedup     float64 `json:"ab_speedup,omitempty"`
	// FastMsByOp (forward rows): wall ms of the last fast sample by op kind, each op timed to the
	// end of its submit (the elementwise ops recorded before it included).
	FastMsByOp map[string]float64 `json:"fast_ms_by_op,omitempty"`
}

// Report is the whole benchmark.
type Report struct {
	Adapter     string  `json:"adapter"`
	AdapterInfo string  `json:"adapter_info"`
	Date        string  `json:"date"`
	Machine     Machine `json:"machine"`
	PeakGFLOPs  float64 `json:"fma_peak_gflops"`
	HalfWeights bool    `json:"half_weights,omitempty"` // Config.HalfWeights
	Rows        []Row   `json:"rows"`
	Seconds     float64 `json:"seconds"`
	// Tune is the kernel tuner's report when Config.Tune ran it before the rows.
	Tune *gpu.TuneReport `json:"tune,omitempty"`
}

// Run measures the FMA peak, then every selected row, on b. b.Direct is restored on return.
func Run(b *gpu.Backend, cfg Config, m Machine) (*Report, error) {
	if cfg.Reps <= 0 {
		cfg.Reps = 10
	}
	if cfg.ForwardReps <= 0 {
		cfg.ForwardReps = 1
	}
	logf := func(format string, a ...any) {
		if cfg.Log != nil {
			cfg.Log(fmt.Sprintf(format, a...))
		}
	}
	saved := b.Direct
	defer func() { b.Direct = saved }()
	halfWeights = cfg.HalfWeights
	defer func() { halfWeights = false }()
	start := time.Now()
	rep := &Report{Adapter: b.Info().Name, AdapterInfo: b.Info().String(), Date: start.UTC().Format(time.RFC3339), Machine: m, HalfWeights: cfg.HalfWeights}

	peak, err := fmaPeak(b, cfg.Reps)
	if err != nil {
		return nil, err
	}
	rep.PeakGFLOPs = peak.GFLOPs
	rep.Rows = append(rep.Rows, peak)
	logf("fma peak: %.1f GFLOP/s", peak.GFLOPs)

	if cfg.Tune != "" {
		tr, err := tuneModel(b, cfg)
		if err != nil {
			return nil, err
		}
		rep.Tune = tr
		logf("%s", tr)
	}

	for _, l := range slakTLayers() {
		if cfg.Filter != "" && !strings.Contains(l.name, cfg.Filter) {
			continue
		}
		var r Row
		sg0 := b.SubgroupGEMMRuns()
		switch {
		case cfg.AB != nil && !l.sparse:
			r, err = measureAB(b, l, cfg.Reps, cfg.AB)
		case l.sparse:
			// the zero-tap skip on and off on the static rule's kernel: a tuned choice of the
			// configuration (fast_skipzero, or direct) would run on both sides
			b.UseTuning(false)
			r, err = measureLayer(b, l, cfg.Reps)
			b.UseTuning(true)
		default:
			r, err = measureLayer(b, l, cfg.Reps)
		}
		if err != nil {
			return nil, fmt.Errorf("bench %s: %w", l.name, err)
		}
		if l.sparse {
			r.Kernel = "static rule, zero-tap skip on vs off (tuned choices not used)"
		} else if l.tune != nil {
			r.Kernel, r.Note = kernelCheck(b, *l.tune, cfg.AB == nil, b.SubgroupGEMMRuns() > sg0, r.Note)
		}
		r.PctPeak = 100 * r.GFLOPs / peak.GFLOPs
		rep.Rows = append(rep.Rows, r)
		if r.ABName != "" {
			logf("%-32s %s on %8.2f ms  off %8.2f ms  x%.2f  %.1f GFLOP/s (%.1f%% peak)", r.Name, r.ABName, r.MedianMs, r.ABOffMedianMs, r.ABSpeedup, r.GFLOPs, r.PctPeak)
		} else if r.NoSkipMedianMs > 0 {
			logf("%-32s zero-skip %8.2f ms  no skip %8.2f ms  x%.2f", r.Name, r.MedianMs, r.NoSkipMedianMs, r.SparseSpeedup)
		} else {
			logf("%-32s fast %8.2f ms  direct %8.2f ms  x%.2f  %.1f GFLOP/s (%.1f%% peak)", r.Name, r.MedianMs, r.DirectMedianMs, r.Speedup, r.GFLOPs, r.PctPeak)
		}
	}
	if cfg.Forwards {
		for _, name := range forwardModels {
			if cfg.Filter != "" && !strings.Contains("forward_"+name, cfg.Filter) {
				continue
			}
			var ab *AB
			if cfg.ForwardAB {
				ab = cfg.AB
			}
			r, err := measureForward(b, name, cfg.ForwardReps, cfg.Sparsity, ab)
			if err != nil {
				return nil, fmt.Errorf("bench forward %s: %w", name, err)
			}
			r.PctPeak = 100 * r.GFLOPs / peak.GFLOPs
			if n := len(b.Tuned()); n > 0 {
				r.Kernel = fmt.Sprintf("%d tuned configuration choices on the backend, static rules elsewhere", n)
			}
			rep.Rows = append(rep.Rows, r)
			if r.ABName != "" {
				logf("%-28s %s on %8.1f ms  off %8.1f ms  x%.2f", r.Name, r.ABName, r.MedianMs, r.ABOffMedianMs, r.ABSpeedup)
			} else {
				logf("%-28s fast %8.1f ms  direct %8.1f ms  x%.2f", r.Name, r.MedianMs, r.DirectMedianMs, r.Speedup)
			}
		}
	}
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

// kernelCheck names the candidate that runs configuration l on b now (gpu.Backend.TuneChoice)
// and, for a pointwise configuration measured without an A/B switch (check), compares it with
// whether matmul_sg.wgsl ran during the row (sgRan): a tuned choice the row did not hit is said
// in the note.
func kernelCheck(b *gpu.Backend, l gpu.TuneLayer, check, sgRan bool, note string) (kernel, outNote string) {
	key, c, tuned, err := b.TuneChoice(l)
	if err != nil {
		return "", note + "; " + err.Error()
	}
	kernel = c + " (static rule)"
	if tuned {
		kernel = c + " (tuned)"
	}
	if check && l.DW == nil && gpu.SubgroupChoice(c) != sgRan {
		msg := fmt.Sprintf("kernel check: %s for %q, but matmul_sg.wgsl ran: %v", kernel, key, sgRan)
		if note == "" {
			return kernel, msg
		}
		return kernel, note + "; " + msg
	}
	return kernel, note
}

// tuneModel runs the kernel tuner as the app does after loading cfg.Tune (Config.Tune).
func tuneModel(b *gpu.Backend, cfg Config) (*gpu.TuneReport, error) {
	v, err := model.Lookup(cfg.Tune)
	if err != nil {
		return nil, fmt.Errorf("bench tune: %w", err)
	}
	sp := cfg.Sparsity
	if sp == 0 {
		sp = 0.4
	}
	sd, err := model.RandomWeights(v, 1, sp)
	if err != nil {
		return nil, fmt.Errorf("bench tune: %w", err)
	}
	net, err := model.Load(b, v, sd)
	if err != nil {
		return nil, fmt.Errorf("bench tune: %w", err)
	}
	defer net.Free()
	cs, err := net.Configs(224, 224)
	if err != nil {
		return nil, fmt.Errorf("bench tune: %w", err)
	}
	// with a filter and no forward selected, the configurations of the selected rows only
	forwards := false
	for _, name := range forwardModels {
		forwards = forwards || cfg.Forwards && strings.Contains("forward_"+name, cfg.Filter)
	}
	var want map[string]bool
	if cfg.Filter != "" && !forwards {
		want = map[string]bool{}
		for _, l := range slakTLayers() {
			if l.tune != nil && strings.Contains(l.name, cfg.Filter) {
				if key, _, _, err := b.TuneChoice(*l.tune); err == nil {
					want[key] = true
				}
			}
		}
	}
	var layers []gpu.TuneLayer
	for _, c := range cs {
		l := gpu.TuneLayer(c)
		if key, _, _, err := b.TuneChoice(l); want == nil || (err == nil && want[key]) {
			layers = append(layers, l)
		}
	}
	o := gpu.TuneOptions{Samples: cfg.TuneSamples, Budget: cfg.TuneBudget}
	if o.Samples <= 0 {
		o.Samples = 2
	}
	if cfg.Log != nil {
		o.Progress = func(done, total int, what string) { cfg.Log(fmt.Sprintf("tune %d/%d %s", done, total, what)) }
	}
	rep, err := b.Tune(layers, o)
	if err != nil {
		return rep, fmt.Errorf("bench tune %s: %w", cfg.Tune, err)
	}
	return rep, nil
}

// forwardModels are the whole-forward rows' variants.
var forwardModels = []string{"slak_t", "convnext_t", "replknet_31b"}

// samples runs f once to warm up (pipeline compilation, first-touch), then n timed times, and
// returns the median and minimum in milliseconds.
func samples(n int, f func() error) (med, mn float64, err error) {
	if err := f(); err != nil {
		return 0, 0, err
	}
	ts := make([]float64, n)
	for i := range ts {
		t0 := time.Now()
		if err := f(); err != nil {
			return 0, 0, err
		}
		ts[i] = float64(time.Since(t0).Nanoseconds()) / 1e6
	}
	sort.Float64s(ts)
	return ts[n/2], ts[0], nil
}

// paired runs fast (b.Direct = false) and direct (b.Direct = true) alternately, one warm-up
// each, then n timed samples each, interleaved so that load from other processes on a shared
// machine hits both sides alike. It returns the medians and minima in milliseconds.
func paired(b *gpu.Backend, n int, warm bool, f func() error) (fmed, fmin, dmed, dmin float64, err error) {
	defer func() { b.Direct = false }()
	var ft, dt []float64
	first := -1
	if !warm {
		first = 0
	}
	for i := first; i < n; i++ {
		for _, direct := range []bool{false, true} {
			b.Direct = direct
			t0 := time.Now()
			if err := f(); err != nil {
				return 0, 0, 0, 0, err
			}
			ms := float64(time.Since(t0).Nanoseconds()) / 1e6
			if i < 0 {
				continue
			}
			if direct {
				dt = append(dt, ms)
			} else {
				ft = append(ft, ms)
			}
		}
	}
	sort.Float64s(ft)
	sort.Float64s(dt)
	return ft[n/2], ft[0], dt[n/2], dt[0], nil
}

// fmaPeak grows the fmapeak dispatch until the fastest of 3 samples takes ≥ 100 ms (short
// dispatches are dominated by submit overhead and by other processes' load), then measures it.
func fmaPeak(b *gpu.Backend, reps int) (Row, error) {
	const iters = 4096
	groups := 64
	run := func() error {
		t, err := b.FMAPeak(groups, iters)
		if err != nil {
			return err
		}
		defer b.Free(t)
		return b.Flush()
	}
	for {
		_, mn, err := samples(3, run)
		if err != nil {
			return Row{}, err
		}
		if mn >= 100 || groups >= 32768 {
			break
		}
		groups *= 2
	}
	med, mn, err := samples(reps, run)
	if err != nil {
		return Row{}, err
	}
	// check the result is live (finite sums, not optimised away)
	t, err := b.FMAPeak(groups, iters)
	if err != nil {
		return Row{}, err
	}
	v, err := b.Download(t)
	b.Free(t)
	if err != nil {
		return Row{}, err
	}
	for i, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) || f == 0 {
			return Row{}, fmt.Errorf("fmapeak: invocation %d stored %g, want a finite non-zero sum", i, f)
		}
	}
	flops := gpu.FMAPeakFLOPs(groups, iters)
	return Row{Name: "fmapeak", Kind: "fmapeak", Shape: fmt.Sprintf("%d groups x 64 x 16 chains x %d", groups, iters),
		MACs: flops / 2, Reps: reps, MedianMs: med, MinMs: mn, GFLOPs: flops / (med * 1e6), PctPeak: 100,
		Note: fmt.Sprintf("the roofline: GFLOP/s of the median sample (best sample: %.1f GFLOP/s)", flops/(mn*1e6))}, nil
}

// layer is one benchmark row: its inputs (host data, uploaded once) and the call.
type layer struct {
	name, kind, shape string
	macs              float64
	inputs            [][]float32
	shapes            [][]int
	sparse            bool // 40% zero weights: compare the zero-skip fast path with the plain one
	gemmW             int  // index of the GEMM weight in inputs (half under Config.HalfWeights), 0: none
	call              func(b *gpu.Backend, in []op.Tensor) (op.Tensor, error)
	// tune is the configuration the call runs, as the tuner keys it (nil: none it tunes)
	tune *gpu.TuneLayer
}

// halfWeights is Config.HalfWeights during Run.
var halfWeights bool

// upload uploads input i of l: half (rounded to binary16) when it is the GEMM weight and
// Config.HalfWeights is set.
func upload(b *gpu.Backend, l layer, i int) (op.Tensor, error) {
	if halfWeights && i == l.gemmW && i > 0 {
		h := make([]uint16, len(l.inputs[i]))
		for j, v := range l.inputs[i] {
			h[j] = weights.Float16Bits(v)
		}
		return b.UploadF16(h, l.shapes[i]...)
	}
	return b.Upload(l.inputs[i], l.shapes[i]...)
}

func randn(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

// slakTLayers lists the named layers of SLaK-T at 224² (SLAK.md §1: dims 124/249/499/998, maps
// 56/28/14/7, K = 51/49/47/13, N = 5).
func slakTLayers() []layer {
	r := rand.New(rand.NewPCG(2023, 51))
	dims := [4]int{124, 249, 499, 998}
	hs := [4]int{56, 28, 14, 7}
	ks := [4]int{51, 49, 47, 13}
	var ls []layer
	stem := op.Conv2D{Cin: 3, H: 224, W: 224, Cout: 124, KH: 4, KW: 4, Stride: 4, Bias: true}
	ls = append(ls, convLayer("slak_t_stem_4x4s4", stem, r))
	for s := 0; s < 4; s++ {
		c, h, k := dims[s], hs[s], ks[s]
		if s > 0 {
			ds := op.Conv2D{Cin: dims[s-1], H: 2 * h, W: 2 * h, Cout: c, KH: 2, KW: 2, Stride: 2, Bias: true}
			ls = append(ls, convLayer(fmt.Sprintf("slak_t_s%d_downsample_2x2s2", s), ds, r))
		}
		br := []op.DWConv{
			{C: c, H: h, W: h, KH: k, KW: 5, Stride: 1, PadH: k / 2, PadW: 2},
			{C: c, H: h, W: h, KH: 5, KW: k, Stride: 1, PadH: 2, PadW: k / 2},
			{C: c, H: h, W: h, KH: 5, KW: 5, Stride: 1, PadH: 2, PadW: 2},
		}
		x := randn(r, c*h*h, 1)
		var ws [][]float32
		for _, p := range br {
			ws = append(ws, randn(r, c*p.KH*p.KW, 0.05))
		}
		bias := randn(r, c, 0.1)
		for i, p := range br {
			p := p
			p.Bias = true
			ls = append(ls, layer{
				name: fmt.Sprintf("slak_t_s%d_%dx%d", s, p.KH, p.KW), kind: "dwconv",
				shape: fmt.Sprintf("C%d %dx%d k%dx%d", c, h, h, p.KH, p.KW), macs: float64(c * h * h * p.KH * p.KW),
				inputs: [][]float32{x, ws[i], bias}, shapes: [][]int{{c, h, h}, {c, p.KH, p.KW}, {c}},
				call: func(b *gpu.Backend, in []op.Tensor) (op.Tensor, error) { return b.DWConv(in[0], in[1], in[2], p) },
				tune: &gpu.TuneLayer{Kind: "dwconv", Name: "bench", DW: []op.DWConv{p}},
			})
		}
		macs := 0.0
		for _, p := range br {
			macs += float64(c * h * h * p.KH * p.KW)
		}
		var sws [][]float32 // SLaK's 40% unstructured sparsity (SLAK.md §1.5)
		for _, w := range ws {
			sw := append([]float32(nil), w...)
			for i := range sw {
				if r.Float64() < 0.4 {
					sw[i] = 0
				}
			}
			sws = append(sws, sw)
		}
		ls = append(ls, layer{
			name: fmt.Sprintf("slak_t_s%d_lk_sum_sparse40", s), kind: "dwconvsum", sparse: true,
			shape: fmt.Sprintf("C%d %dx%d, 40%% zero taps", c, h, h), macs: macs,
			inputs: [][]float32{x, sws[0], sws[1], sws[2], bias},
			shapes: [][]int{{c, h, h}, {c, k, 5}, {c, 5, k}, {c, 5, 5}, {c}},
			call: func(b *gpu.Backend, in []op.Tensor) (op.Tensor, error) {
				return b.DWConvSum(in[0], in[1:4], in[4], br)
			},
			tune: &gpu.TuneLayer{Kind: "dwconvsum", Name: "bench", DW: br},
		})
		ls = append(ls, layer{
			name: fmt.Sprintf("slak_t_s%d_lk_sum_%dx5+5x%d+5x5", s, k, k), kind: "dwconvsum",
			shape: fmt.Sprintf("C%d %dx%d", c, h, h), macs: macs,
			inputs: [][]float32{x, ws[0], ws[1], ws[2], bias},
			shapes: [][]int{{c, h, h}, {c, k, 5}, {c, 5, k}, {c, 5, 5}, {c}},
			call: func(b *gpu.Backend, in []op.Tensor) (op.Tensor, error) {
				return b.DWConvSum(in[0], in[1:4], in[4], br)
			},
			tune: &gpu.TuneLayer{Kind: "dwconvsum", Name: "bench", DW: br},
		})
		hw := h * h
		pw1 := op.Linear{In: c, Out: 4 * c, HW: hw, Bias: true}
		ln := op.LayerNorm{C: c, HW: hw, Eps: 1e-6}
		ls = append(ls, layer{
			name: fmt.Sprintf("slak_t_s%d_pw1_ln_gelu", s), kind: "lnlineargelu",
			shape: fmt.Sprintf("%d->%d HW%d", c, 4*c, hw), macs: float64(c * 4 * c * hw),
			inputs: [][]float32{x, randn(r, c, 1), randn(r, c, 0.1), randn(r, 4*c*c, 1/math.Sqrt(float64(c))), randn(r, 4*c, 0.1)},
			shapes: [][]int{{c, hw}, {c}, {c}, {4 * c, c}, {4 * c}}, gemmW: 3,
			call: func(b *gpu.Backend, in []op.Tensor) (op.Tensor, error) {
				return b.LNLinearGELU(in[0], in[1], in[2], in[3], in[4], ln, pw1)
			},
			tune: &gpu.TuneLayer{Kind: "lnlineargelu", Name: "bench", Lin: pw1},
		})
		pw2 := op.Linear{In: 4 * c, Out: c, HW: hw, Bias: true}
		ls = append(ls, layer{
			name: fmt.Sprintf("slak_t_s%d_pw2_scale_res", s), kind: "linearscaleresidual",
			shape: fmt.Sprintf("%d->%d HW%d", 4*c, c, hw), macs: float64(c * 4 * c * hw),
			inputs: [][]float32{randn(r, 4*c*hw, 1), randn(r, c*4*c, 1/math.Sqrt(float64(4*c))), randn(r, c, 0.1), randn(r, c, 1), x},
			shapes: [][]int{{4 * c, hw}, {c, 4 * c}, {c}, {c}, {c, hw}}, gemmW: 1,
			call: func(b *gpu.Backend, in []op.Tensor) (op.Tensor, error) {
				return b.LinearScaleResidual(in[0], in[1], in[2], in[3], in[4], pw2)
			},
			tune: &gpu.TuneLayer{Kind: "linearscaleresidual", Name: "bench", Lin: pw2},
		})
	}
	return ls
}

// sparseModel is the cost model that explains the *_sparse40 rows on lavapipe, where a memory
// access (a loop over the SIMD lanes, vec4 ≈ 1.2 scalar) costs ≈ 16 FMAs. dwconv_fast2.wgsl
// spends per group of 4 taps and 2×28 output block 1 weight + 2 window vec4 loads (≈ 58
// FMA-equivalents) on 224 FMAs; the loads serve all 4 taps, so a zero-tap skip saves only FMAs.
// Measured on stage 0: 16 ms per fused block, ≈ 3.6 ms of it the dispatch (an empty kernel),
// 4.4 ms the dense FMAs at the measured peak: skipping 40% of them saves ≤ 1.8 ms (≤ 1.12×)
// before the per-tap branch, which also costs the accumulator-major FMA order (0.74–0.81×
// measured). A compressed tap list breaks the shared window entirely (each non-zero tap reloads
// its inputs), as it did for dwconv_fast.wgsl (model 0.64×).
const sparseModel = "Model (lavapipe, dwconv_fast2, stage 0): 16 ms per block = ~3.6 ms dispatch + FMAs (4.4 ms at peak) + loads/spills; a zero-tap skip saves <= 40% of the FMAs (<= 1.8 ms, <= 1.12x) but not the 4-tap groups' shared loads, and its per-tap branch costs more (measured 0.74-0.81x): loads and overhead, not FMAs, bound the kernel"

func convLayer(name string, p op.Conv2D, r *rand.Rand) layer {
	return layer{
		name: name, kind: "conv2d",
		shape:  fmt.Sprintf("%d->%d %dx%d k%d s%d", p.Cin, p.Cout, p.H, p.W, p.KH, p.Stride),
		macs:   float64(p.Cout * p.OutH() * p.OutW() * p.Cin * p.KH * p.KW),
		inputs: [][]float32{randn(r, p.Cin*p.H*p.W, 1), randn(r, p.Cout*p.Cin*p.KH*p.KW, 0.1), randn(r, p.Cout, 0.1)},
		shapes: [][]int{{p.Cin, p.H, p.W}, {p.Cout, p.Cin, p.KH, p.KW}, {p.Cout}},
		gemmW:  1,
		call:   func(b *gpu.Backend, in []op.Tensor) (op.Tensor, error) { return b.Conv2D(in[0], in[1], in[2], p) },
	}
}

// measureAB times l with ab on and off, interleaved after one warm-up of each (fast kernels).
func measureAB(b *gpu.Backend, l layer, reps int, ab *AB) (Row, error) {
	defer ab.Set(true)
	b.Direct = false
	row := Row{Name: l.name, Kind: l.kind, Shape: l.shape, MACs: l.macs, Reps: reps, ABName: ab.Name}
	var on, off []float64
	err := withInputs(b, l, func(run func() error) error {
		for i := -1; i < reps; i++ {
			for _, v := range []bool{true, false} {
				ab.Set(v)
				t0 := time.Now()
				if err := run(); err != nil {
					return err
				}
				ms := float64(time.Since(t0).Nanoseconds()) / 1e6
				if i >= 0 && v {
					on = append(on, ms)
				} else if i >= 0 {
					off = append(off, ms)
				}
			}
		}
		return nil
	})
	if err != nil {
		return row, err
	}
	sort.Float64s(on)
	sort.Float64s(off)
	row.MedianMs, row.MinMs, row.GFLOPs = on[reps/2], on[0], 2*l.macs/(on[reps/2]*1e6)
	row.ABOffMedianMs, row.ABSpeedup = off[reps/2], off[reps/2]/on[reps/2]
	row.Note = fmt.Sprintf("A/B of %s on vs off (fast kernels, interleaved)", ab.Name)
	return row, nil
}

// withInputs uploads l's inputs and calls f with a function that runs l once and flushes.
func withInputs(b *gpu.Backend, l layer, f func(run func() error) error) error {
	in := make([]op.Tensor, len(l.inputs))
	defer func() {
		for _, t := range in {
			b.Free(t)
		}
	}()
	for i := range l.inputs {
		t, err := upload(b, l, i)
		if err != nil {
			return err
		}
		in[i] = t
	}
	return f(func() error {
		y, err := l.call(b, in)
		if err != nil {
			return err
		}
		defer b.Free(y)
		return b.Flush()
	})
}

func measureLayer(b *gpu.Backend, l layer, reps int) (Row, error) {
	in := make([]op.Tensor, len(l.inputs))
	defer func() {
		for _, t := range in {
			b.Free(t)
		}
	}()
	for i := range l.inputs {
		t, err := upload(b, l, i)
		if err != nil {
			return Row{}, err
		}
		in[i] = t
	}
	run := func() error {
		y, err := l.call(b, in)
		if err != nil {
			return err
		}
		defer b.Free(y)
		return b.Flush()
	}
	row := Row{Name: l.name, Kind: l.kind, Shape: l.shape, MACs: l.macs, Reps: reps}
	if l.sparse {
		saved := gpu.DWZeroSkip
		defer func() { gpu.DWZeroSkip = saved }()
		var on, off []float64
		for i := -1; i < reps; i++ {
			for _, skip := range []bool{true, false} {
				gpu.DWZeroSkip = skip
				t0 := time.Now()
				if err := run(); err != nil {
					return row, err
				}
				ms := float64(time.Since(t0).Nanoseconds()) / 1e6
				if i >= 0 && skip {
					on = append(on, ms)
				} else if i >= 0 {
					off = append(off, ms)
				}
			}
		}
		sort.Float64s(on)
		sort.Float64s(off)
		row.MedianMs, row.MinMs, row.GFLOPs = on[reps/2], on[0], 2*l.macs/(on[reps/2]*1e6)
		row.NoSkipMedianMs, row.SparseSpeedup = off[reps/2], off[reps/2]/on[reps/2]
		row.Note = "fast kernel with zero-tap skip vs without (same weights, interleaved); GFLOP/s count dense MACs. " + sparseModel
		return row, nil
	}
	med, mn, dmed, dmn, err := paired(b, reps, true, run)
	if err != nil {
		return row, err
	}
	row.MedianMs, row.MinMs, row.GFLOPs = med, mn, 2*l.macs/(med*1e6)
	row.DirectMedianMs, row.DirectMinMs, row.Speedup = dmed, dmn, dmed/med
	return row, nil
}

// measureForward times Net.Forward (upload of the 224² input, the whole network, download of
// the logits) with random weights, fast (op.Fused + fast paths) and direct.
func measureForward(b *gpu.Backend, name string, reps int, sparsity float64, ab *AB) (Row, error) {
	v, err := model.Lookup(name)
	if err != nil {
		return Row{}, err
	}
	sd, err := model.RandomWeights(v, 1, sparsity)
	if err != nil {
		return Row{}, err
	}
	if halfWeights {
		if sd, err = convert.HalfWeights(v, sd); err != nil {
			return Row{}, err
		}
	}
	cb := &counter{Backend: b}
	net, err := model.Load(cb, v, sd)
	if err != nil {
		return Row{}, err
	}
	defer net.Free()
	const size = 224
	x := randn(rand.New(rand.NewPCG(7, 7)), 3*size*size, 1)
	var fastMs map[string]float64 // op kind → ms of the last fast sample
	run := func() error {
		cb.ms = nil
		_, err := net.Forward(x, size, size)
		if !b.Direct {
			fastMs = cb.ms
		}
		return err
	}
	row := Row{Name: "forward_" + name, Kind: "forward", Shape: fmt.Sprintf("%s 3x%dx%d", v.Label, size, size), Reps: reps}
	b.Direct = false
	cb.macs = 0
	if err := run(); err != nil {
		return row, err
	}
	row.MACs = cb.macs
	if ab != nil { // A/B of a fast-kernel switch instead of fast vs direct
		defer ab.Set(true)
		ab.Set(false)
		if err := run(); err != nil { // warm-up of B (A's was the run above)
			return row, err
		}
		var on, off []float64
		for i := 0; i < reps; i++ {
			for _, o := range []bool{true, false} {
				ab.Set(o)
				t0 := time.Now()
				if err := run(); err != nil {
					return row, err
				}
				if ms := float64(time.Since(t0).Nanoseconds()) / 1e6; o {
					on = append(on, ms)
				} else {
					off = append(off, ms)
				}
			}
		}
		sort.Float64s(on)
		sort.Float64s(off)
		row.MedianMs, row.MinMs, row.GFLOPs = on[reps/2], on[0], 2*row.MACs/(on[reps/2]*1e6)
		row.ABName, row.ABOffMedianMs, row.ABSpeedup = ab.Name, off[reps/2], off[reps/2]/on[reps/2]
		row.Note = fmt.Sprintf("A/B of %s on vs off (fast kernels, interleaved, %d samples each); random weights, sparsity %.2f, half GEMM weights %v", ab.Name, reps, sparsity, halfWeights)
		return row, nil
	}
	// no further warm-up: the run above compiled the fast pipelines, and the direct ones are
	// compiled by the layer rows (or cost well under 1% of a direct forward on lavapipe)
	med, mn, dmed, dmn, err := paired(b, reps, false, run)
	if err != nil {
		return row, err
	}
	row.MedianMs, row.MinMs, row.GFLOPs = med, mn, 2*row.MACs/(med*1e6)
	row.DirectMedianMs, row.DirectMinMs, row.Speedup = dmed, dmn, dmed/med
	row.Note = fmt.Sprintf("random weights, sparsity %.2f; includes input upload, a submit after each conv/pointwise layer and the logits download; %d samples each, interleaved, after one fast warm-up; last fast sample by op: %s", sparsity, reps, breakdown(fastMs))
	row.FastMsByOp = fastMs
	return row, nil
}

// breakdown formats ms by op kind, largest first.
func breakdown(ms map[string]float64) string {
	type kv struct {
		k string
		v float64
	}
	var l []kv
	for k, v := range ms {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	var sb strings.Builder
	for i, e := range l {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s %.0f ms", e.k, e.v)
	}
	return sb.String()
}
