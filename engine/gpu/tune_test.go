//go:build !js

package gpu

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slak-web/slak/engine/op"
)

// TestTuneOne: the decision with a fake timer: interleaved rounds after one warm-up each, the
// minimum median wins, a candidate over 3× the best first sample is dropped, runs are counted.
func TestTuneOne(t *testing.T) {
	times := map[string][]float64{ // warm-up first (ignored), then samples
		"a": {100, 10, 12, 11},
		"b": {1, 9, 30, 8}, // median 9 (one noisy sample): wins
		"c": {5, 40, 1, 1}, // 40 > 3·9: dropped after its first sample
	}
	next := map[string]int{}
	var order []string
	cands, win, n, err := tuneOne([]string{"a", "b", "c"}, 3, func(c string) (float64, error) {
		order = append(order, c)
		v := times[c][next[c]]
		next[c]++
		return v, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if win != "b" {
		t.Errorf("winner %q, want b (medians a 11, b 9; c dropped)", win)
	}
	if got, want := strings.Join(order, ""), "abcabcabab"; got != want {
		t.Errorf("run order %s, want %s (interleaved; c dropped after round 0)", got, want)
	}
	if n != 10 {
		t.Errorf("%d runs counted, want 10", n)
	}
	if cands[2].Skipped == "" || cands[0].MedianMs != 11 || cands[1].MedianMs != 9 {
		t.Errorf("candidates %+v: want c dropped, medians a 11, b 9", cands)
	}
	// an error names the candidate
	if _, _, _, err := tuneOne([]string{"x"}, 1, func(string) (float64, error) { return 0, fmt.Errorf("boom") }); err == nil || !strings.Contains(err.Error(), "candidate x") {
		t.Errorf("error %v, want one naming candidate x", err)
	}
}

// fakeClock times candidates from a table (ms per candidate name) without trusting the device.
func fakeClock(ms map[string]float64, calls *int) func(string, func() error) (float64, error) {
	return func(c string, run func() error) (float64, error) {
		*calls++
		return ms[c], nil
	}
}

func slakBranches(c, h, k int) []op.DWConv {
	return []op.DWConv{
		{C: c, H: h, W: h, KH: k, KW: 5, Stride: 1, PadH: k / 2, PadW: 2},
		{C: c, H: h, W: h, KH: 5, KW: k, Stride: 1, PadH: 2, PadW: k / 2},
		{C: c, H: h, W: h, KH: 5, KW: 5, Stride: 1, PadH: 2, PadW: 2},
	}
}

// TestTuneDecisions: Backend.Tune with a fake timer on the real backend: hopeless candidates are
// not timed, single candidates are decided untimed, winners drive dwFastWorth / dwZeroSkip,
// the budget keeps the static rule, ClearTuning restores it.
func TestTuneDecisions(t *testing.T) {
	b := backend(t)
	defer b.ClearTuning()
	// sparse weights (half zeros) for the stage-1-like configuration
	s1 := slakBranches(5, 19, 9) // 361 px: every candidate timed
	var ws []op.Tensor
	for _, p := range s1 {
		v := make([]float32, p.C*p.KH*p.KW)
		for i := range v {
			if i%2 == 1 {
				v[i] = 0.5
			}
		}
		w, err := b.Upload(v, p.C, p.KH, p.KW)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Free(w)
		ws = append(ws, w)
	}
	layers := []TuneLayer{
		{Kind: "dwconvsum", Name: "s0", Count: 3, DW: slakBranches(4, 21, 51)}, // 441 px, 535 taps: direct not timed
		{Kind: "dwconvsum", Name: "s1", Count: 3, DW: s1, Weights: ws},         // all three timed
		{Kind: "dwconvsum", Name: "s1b", Count: 2, DW: s1, Weights: ws},        // merged into s1
		{Kind: "dwconvsum", Name: "s3", Count: 1, DW: slakBranches(3, 7, 13)},  // 49 px: only direct, untimed
		{Kind: "lnlineargelu", Name: "pw1", Count: 1, Lin: op.Linear{In: 6, Out: 24, HW: 49, Bias: true}},
	}
	calls := 0
	rep, err := b.Tune(layers, TuneOptions{Samples: 2, clock: fakeClock(map[string]float64{TuneDirect: 5, TuneFast: 3, TuneSkipZero: 2}, &calls)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", rep)
	if len(rep.Results) != 4 {
		t.Fatalf("%d results, want 4 (s1b merged)", len(rep.Results))
	}
	by := map[string]TuneResult{}
	for _, r := range rep.Results {
		by[r.Layer] = r
	}
	r0, r1, r3, rm := by["s0"], by["s1"], by["s3"], by["pw1"]
	if rep.Results[0].Layer != "s0" || rep.Results[3].Layer != "pw1" {
		t.Errorf("order %s, %s, …, %s; want the largest share of a forward (s0) first, pw1 last", rep.Results[0].Layer, rep.Results[1].Layer, rep.Results[3].Layer)
	}
	if r0.Candidates[0].Skipped == "" || r0.Candidates[2].Skipped == "" || r0.Winner != "" {
		t.Errorf("s0: %+v; want direct skipped (static rule), zero skip skipped (random dense weights), one candidate left = static fast, no winner", r0)
	}
	if r1.Count != 5 || r1.Winner != TuneSkipZero || r1.ZeroFrac < 0.4 || r1.ZeroFrac > 0.6 {
		t.Errorf("s1: count %d winner %q zeros %.2f, want 5, %s, ~0.5", r1.Count, r1.Winner, r1.ZeroFrac, TuneSkipZero)
	}
	if r3.Winner != "" || r3.Static != TuneDirect {
		t.Errorf("s3: winner %q static %q, want none and direct", r3.Winner, r3.Static)
	}
	if ok, _ := b.sgGEMMTakes(op.Linear{In: 6, Out: 24, HW: 49}, sgVariants[TuneSubgroup]); !ok && (rm.Winner != "" || rm.Candidates[1].Skipped == "") {
		t.Errorf("pw1 without subgroups: %+v, want the subgroup candidate skipped and no winner", rm)
	}
	// s1: 3 candidates × (1 warm-up + 2 samples); nothing else timed on a device without subgroups
	if want := 9; rep.Timed != want || (calls != want && !strings.Contains(strings.Join(b.info.Features, ","), "subgroups")) {
		t.Errorf("%d timed runs (%d clock calls), want %d", rep.Timed, calls, want)
	}
	pl, _ := planDWFast(s1, true)
	if !b.dwFastWorth(pl, s1) || !b.dwZeroSkip(s1) {
		t.Errorf("s1 after tuning: fast %v skip %v, want both (tuned %s)", b.dwFastWorth(pl, s1), b.dwZeroSkip(s1), TuneSkipZero)
	}
	// the direct kernel wins where the timer says so, against the static rule
	calls = 0
	if _, err := b.Tune(layers[1:2], TuneOptions{Samples: 1, clock: fakeClock(map[string]float64{TuneDirect: 1, TuneFast: 3, TuneSkipZero: 2}, &calls)}); err != nil {
		t.Fatal(err)
	}
	if b.dwFastWorth(pl, s1) || b.dwZeroSkip(s1) {
		t.Errorf("s1 tuned to direct: fast %v skip %v (tuned %v)", b.dwFastWorth(pl, s1), b.dwZeroSkip(s1), b.Tuned())
	}
	b.UseTuning(false) // the static rule again, the choice kept
	if !b.dwFastWorth(pl, s1) {
		t.Errorf("UseTuning(false): dwFastWorth false, want the static rule (fast)")
	}
	b.UseTuning(true)
	if b.dwFastWorth(pl, s1) {
		t.Errorf("UseTuning(true): dwFastWorth true, want the tuned direct kernel")
	}
	b.ClearTuning()
	if !b.dwFastWorth(pl, s1) || b.dwZeroSkip(s1) {
		t.Errorf("after ClearTuning: fast %v skip %v, want the static rule (fast, no skip)", b.dwFastWorth(pl, s1), b.dwZeroSkip(s1))
	}
	// a spent budget times nothing and keeps the static rules
	calls = 0
	rep, err = b.Tune(layers[1:2], TuneOptions{Budget: time.Nanosecond, clock: fakeClock(nil, &calls)})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 0 || rep.Results[0].Winner != "" || !strings.Contains(rep.Results[0].Note, "budget") {
		t.Errorf("budget spent: %d clock calls, result %+v; want none and the static rule kept", calls, rep.Results[0])
	}
	if len(b.Tuned()) != 0 {
		t.Errorf("tuned choices %v after an untimed tune, want none", b.Tuned())
	}
}

// TestTuneStopResume: TuneOptions.Stop ends a tune between timed runs (the configuration being
// timed keeps the static rule, the decided ones keep their choices), and a second Tune with Skip
// decides only the rest (the app's tuning in the background, stopped for a person's request).
func TestTuneStopResume(t *testing.T) {
	b := backend(t)
	defer b.ClearTuning()
	layers := []TuneLayer{
		{Kind: "dwconvsum", Name: "a", Count: 4, DW: slakBranches(5, 19, 9)}, // 361 px: direct and fast timed
		{Kind: "dwconvsum", Name: "b", Count: 2, DW: slakBranches(5, 17, 9)}, // 289 px: same
	}
	ms := map[string]float64{TuneDirect: 1, TuneFast: 3}
	calls := 0
	clock := fakeClock(ms, &calls)
	// a: 2 candidates × (warm-up + 1 sample) = 4 runs; stop before b's third run
	stopAt := 4 + 2 + 1
	rep, err := b.Tune(layers, TuneOptions{Samples: 1, clock: clock, Stop: func() bool { return calls >= stopAt }})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Stopped || rep.Left != 1 || len(rep.Results) != 1 || rep.Results[0].Layer != "a" || rep.Results[0].Winner != TuneDirect {
		t.Fatalf("stopped tune: %+v, want a decided (direct), stopped with 1 left", rep)
	}
	keyA, _, _, _ := b.TuneChoice(layers[0])
	keyB, _, _, _ := b.TuneChoice(layers[1])
	if got := b.Tuned(); len(got) != 1 || got[keyA] != TuneDirect {
		t.Errorf("choices after the stop %v, want only a → direct (b keeps the static rule)", got)
	}
	if _, c, tuned, _ := b.TuneChoice(layers[1]); tuned || c != TuneFast {
		t.Errorf("b after the stop: %s (tuned %v), want the static fast kernel", c, tuned)
	}
	calls = 0
	var seen []string
	rep, err = b.Tune(layers, TuneOptions{Samples: 1, clock: clock, Skip: map[string]bool{keyA: true},
		Progress: func(done, total int, what string) { seen = append(seen, fmt.Sprintf("%d/%d", done, total)) }})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stopped || len(rep.Results) != 1 || rep.Results[0].Config != keyB || calls != 4 {
		t.Errorf("resumed tune: %+v after %d runs, want b alone decided in 4 runs", rep, calls)
	}
	if strings.Join(seen, " ") != "0/1 1/1" {
		t.Errorf("progress %v, want 0/1 1/1 (a skipped)", seen)
	}
	if got := b.Tuned(); got[keyA] != TuneDirect || got[keyB] != TuneDirect {
		t.Errorf("choices after resuming %v, want both direct", got)
	}
}

// TestTuneReal: a real (short) tune on this device, then the tuned kernels against engine/cpu
// through the fast-path checks of fast_test.go's tolerance (DWConvSum by composition).
func TestTuneReal(t *testing.T) {
	b := backend(t)
	defer b.ClearTuning()
	layers := []TuneLayer{
		{Kind: "dwconvsum", Name: "s1", DW: slakBranches(7, 19, 11)},
		{Kind: "dwconv", Name: "k7", DW: []op.DWConv{{C: 9, H: 15, W: 13, KH: 7, KW: 7, Stride: 1, PadH: 3, PadW: 3, Bias: true}}},
		{Kind: "linearscaleresidual", Name: "pw2", Lin: op.Linear{In: 20, Out: 7, HW: 53, Bias: true}},
	}
	rep, err := b.Tune(layers, TuneOptions{Samples: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", rep)
	if rep.Timed == 0 {
		t.Errorf("nothing timed: %+v", rep)
	}
	for _, r := range rep.Results {
		if r.Kind == "dwconvsum" && r.Winner == "" {
			t.Errorf("%s: no winner, want one of direct/fast timed", r.Config)
		}
	}
}

// TestMatmulSGValidates checks matmul_sg.wgsl's variants (which only a device with subgroups
// compiles: the native naga of wgpu-native v0.23 rejects `enable subgroups;`, and so does the naga
// on our PATH: "not yet supported") with the tint validator when it is on the PATH.
func TestMatmulSGValidates(t *testing.T) {
	tools := wgslValidators(t, "tint")
	for _, half := range []bool{false, true} {
		for _, xv := range []bool{false, true} {
			for _, c := range []struct {
				ln  bool
				epi int
			}{{true, 1}, {false, 2}, {false, 0}} {
				b := &Backend{info: Info{Features: []string{"subgroups"}}}
				// reuse matmulSG's substitution code up to the dispatch by building them here
				p := op.Linear{In: 12, Out: 20, HW: 49}
				if xv {
					p.HW = 52
				}
				for _, v := range []sgVariant{{16, 1, false}, {16, 4, false}, {32, 2, false}, {8, 1, false}} {
					if c.ln && v.pg != 1 {
						continue
					}
					subst := sgSubst(b, t, p, c.ln, c.epi, half, v)
					src, err := Source("matmul_sg", subst)
					if err != nil {
						t.Fatal(err)
					}
					validateWGSL(t, tools, fmt.Sprintf("matmul_sg (half %v, XV %v, LN %v, EPI %d, %+v)", half, xv, c.ln, c.epi, v), src)
				}
			}
		}
	}
}

func sgSubst(b *Backend, t *testing.T, p op.Linear, ln bool, epi int, half bool, v sgVariant) map[string]string {
	t.Helper()
	_, s, err := b.matmulSGSubst("test", &Tensor{half: half}, p, ln, epi, v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSGDisagrees: the on-device check of the subgroup GEMM accepts reordered-sum rounding and
// rejects a wrong element.
func TestSGDisagrees(t *testing.T) {
	want := []float32{1, -2.5, 3, 0}
	if why := sgDisagrees([]float32{1.000001, -2.500002, 3, 1e-7}, want); why != "" {
		t.Errorf("rounding-level differences rejected: %s", why)
	}
	if why := sgDisagrees([]float32{1, -2.5, 2.9, 0}, want); !strings.Contains(why, "element 2") {
		t.Errorf("a wrong element: %q, want it named (element 2)", why)
	}
	if why := sgDisagrees([]float32{1, float32(math.NaN()), 3, 0}, want); why == "" {
		t.Error("NaN accepted")
	}
	if why := sgDisagrees(want[:3], want); why == "" {
		t.Error("short output accepted")
	}
}

// TestTunedRoundTrip: the stored form restores the same choices and ignores unknown entries; the
// store key changes with the adapter and the scope.
func TestTunedRoundTrip(t *testing.T) {
	b := &Backend{info: Info{Name: "a"}}
	defer b.ClearTuning()
	b.setChoice(false, "dw C1 9x9 k3x3/p1,1/s1", TuneDirect)
	b.setChoice(true, "gemm 1->2 HW3 ln=false epi=0", TuneSubgroup)
	s := b.encodeTuned()
	c := &Backend{info: Info{Name: "a"}}
	defer c.ClearTuning()
	if n := c.restoreTuned(s); n != 2 {
		t.Fatalf("restored %d of %s, want 2", n, s)
	}
	if got, want := c.encodeTuned(), s; got != want {
		t.Errorf("round trip %s, want %s", got, want)
	}
	if n := c.restoreTuned(`{"dw x":"bogus","other":"direct"}`); n != 0 {
		t.Errorf("restored %d unknown entries, want 0", n)
	}
	if n := c.restoreTuned("not json"); n != 0 {
		t.Errorf("restored %d from garbage", n)
	}
	d := &Backend{info: Info{Name: "b"}}
	if b.tuneStoreKey("slak_t") == d.tuneStoreKey("slak_t") || b.tuneStoreKey("slak_t") == b.tuneStoreKey("convnext_t") {
		t.Errorf("store keys do not separate adapters and scopes: %s", b.tuneStoreKey("slak_t"))
	}
	// the browser lists features in no fixed order: the key must not depend on it
	e := &Backend{info: Info{Name: "a", Features: []string{"subgroups", "timestamp-query"}}}
	f := &Backend{info: Info{Name: "a", Features: []string{"timestamp-query", "subgroups"}}}
	if e.tuneStoreKey("slak_t") != f.tuneStoreKey("slak_t") {
		t.Errorf("store keys depend on the order of the features: %s vs %s", e.tuneStoreKey("slak_t"), f.tuneStoreKey("slak_t"))
	}
}

// TestDropWrong: a configuration the on-device check found wrong is skipped with its reason and
// leaves the others live; a backend then refuses that configuration only.
func TestDropWrong(t *testing.T) {
	res := TuneResult{Candidates: []TuneCandidate{{Name: TuneGEMM}, {Name: TuneSubgroup}, {Name: TuneSubgroupP16}, {Name: TuneSubgroupR32P8}}}
	live := []string{TuneGEMM, TuneSubgroup, TuneSubgroupP16, TuneSubgroupR32P8}
	if got := dropWrong(&res, live, nil); !slices.Equal(got, live) || res.Note != "" {
		t.Errorf("nothing wrong: live %v, note %q", got, res.Note)
	}
	got := dropWrong(&res, live, map[string]string{TuneSubgroupP16: "element 3: 2 vs 1"})
	if want := []string{TuneGEMM, TuneSubgroup, TuneSubgroupR32P8}; !slices.Equal(got, want) {
		t.Errorf("live %v, want %v", got, want)
	}
	if !strings.Contains(res.Candidates[2].Skipped, "element 3") || res.Candidates[1].Skipped != "" || !strings.Contains(res.Note, TuneSubgroupP16+" disagrees") {
		t.Errorf("candidates %+v, note %q", res.Candidates, res.Note)
	}

	b := &Backend{info: Info{Features: []string{"subgroups"}}, sgWrong: map[sgVariant]string{sgVariants[TuneSubgroupP16]: "element 3"}}
	p := op.Linear{In: 8, Out: 8, HW: 64}
	if ok, why := b.sgGEMMTakes(p, sgVariants[TuneSubgroupP16]); ok || !strings.Contains(why, "element 3") {
		t.Errorf("the wrong configuration: ok %v (%s)", ok, why)
	}
	if ok, why := b.sgGEMMTakes(p, sgVariants[TuneSubgroupR32P8]); !ok {
		t.Errorf("another configuration refused: %s", why)
	}
}
