//go:build js

package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/model"
	"github.com/slak-web/slak/engine/op"
	"github.com/slak-web/slak/engine/optest"
	"github.com/slak-web/slak/weights/convert"
)

// runSG checks wgsl/matmul_sg.wgsl on a device with subgroups: gpu.GEMMSubgroups forces its
// first configuration on, then the optest linear cases run again (lines prefixed "SG ") and the
// fused pointwise ops (LayerNorm prologue + GELU, layer scale + residual), which optest does not
// cover, are compared with engine/cpu on hostile shapes for every configuration the tuner can
// choose (lines "SG fused/<variant>/…"), and halfCheck runs again
// ("SG HALF …": half weights through the subgroup kernel, bit-equal to their widening). It writes
// "SUBGROUPS=forced runs=<matmul_sg dispatches>" or "SUBGROUPS=absent (<why>)" and returns
// the number of failures.
func runSG(sb *strings.Builder, b *gpu.Backend, real bool) int {
	if ok, why := b.SubgroupGEMMStatus(); !ok {
		fmt.Fprintf(sb, "SUBGROUPS=absent (%s)\n", why)
		return 0
	}
	gpu.GEMMSubgroups = gpu.TuneSubgroup
	defer func() { gpu.GEMMSubgroups = "" }()
	runs0 := b.SubgroupGEMMRuns()
	bad := 0
	for _, r := range optest.RunAll(cpu.NewBackend(), b, func(c optest.Case) bool { return c.Op == "linear" && (real || !c.Real) }) {
		if !r.OK() {
			bad++
		}
		sb.WriteString("SG " + r.String() + "\n")
	}
	for _, c := range []struct {
		name string
		lin  op.Linear
	}{
		{"odd_13to17_hw11", op.Linear{In: 13, Out: 17, HW: 11, Bias: true}},
		{"vec4_12to40_hw52", op.Linear{In: 12, Out: 40, HW: 52, Bias: true}},
		{"wide_249to499_hw49", op.Linear{In: 249, Out: 499, HW: 49, Bias: true}},
		{"slak_t_s2_pw2_1996to499_hw196", op.Linear{In: 1996, Out: 499, HW: 196, Bias: true}},
	} {
		for _, v := range gpu.SubgroupVariants() {
			gpu.GEMMSubgroups = v
			for _, epi := range []int{1, 2} {
				n0 := b.SubgroupGEMMRuns()
				line, ok := fusedCheck(b, c.lin, epi)
				if n := b.SubgroupGEMMRuns() - n0; n != 1 && ok {
					line, ok = fmt.Sprintf("%s: FAIL %d matmul_sg dispatches, want 1", line, n), false
				}
				if !ok {
					bad++
				}
				sb.WriteString("SG fused/" + v + "/" + c.name + " " + line + "\n")
			}
		}
	}
	gpu.GEMMSubgroups = gpu.TuneSubgroup
	line, ok := halfCheck(b) // half weights through matmul_sg.wgsl's halfW access
	if !ok {
		bad++
	}
	sb.WriteString("SG " + line + "\n")
	if ok, why := b.SubgroupGEMMStatus(); !ok {
		fmt.Fprintf(sb, "SG FAIL: matmul_sg.wgsl was dropped: %s\n", why)
		bad++
	}
	// the tuner's on-device check of the variant against the static GEMM (then a short timing)
	gpu.GEMMSubgroups = ""
	rep, err := b.Tune([]gpu.TuneLayer{
		{Kind: "lnlineargelu", Name: "odd", Lin: op.Linear{In: 13, Out: 17, HW: 11, Bias: true}},
		{Kind: "linearscaleresidual", Name: "wide", Lin: op.Linear{In: 249, Out: 499, HW: 49, Bias: true}},
	}, gpu.TuneOptions{Samples: 1})
	b.ClearTuning()
	switch {
	case err != nil:
		fmt.Fprintf(sb, "SG TUNE FAIL: %v\n", err)
		bad++
	case strings.Contains(rep.String(), "disagrees"):
		fmt.Fprintf(sb, "SG TUNE FAIL: %s", rep)
		bad++
	default:
		fmt.Fprintf(sb, "SG TUNE ok: the variant agrees with the static GEMM on this device; %s", rep)
	}
	runs := b.SubgroupGEMMRuns() - runs0
	if runs == 0 {
		sb.WriteString("SG FAIL: no matmul_sg dispatch\n")
		bad++
	}
	fmt.Fprintf(sb, "SUBGROUPS=forced runs=%d\n", runs)
	return bad
}

// fusedCheck compares the GPU's LNLinearGELU (epi 1) or LinearScaleResidual (epi 2) with the
// composition of engine/cpu's ops. Tolerance, as engine/gpu's fast_test.go: |Δ| ≤ f·u·S + 1e-6·S
// + 1e-6 with S the same sum over absolute values, u = 2⁻²⁴, f = 4√(K+1) + 2 (two f32 sums of
// K+1 terms in different orders), 1e-6·S the rounding of the LayerNorm statistics, 1e-6 the
// erf approximation (A&S 7.1.26, |err| ≤ 1.5e-7 on erf, scaled by |v|/2 ≤ a few units here);
// ×1.2 for GELU, whose slope is at most 1.13.
func fusedCheck(b *gpu.Backend, lin op.Linear, epi int) (string, bool) {
	r := rand.New(rand.NewPCG(uint64(lin.In), uint64(lin.Out*10+epi)))
	rnd := func(n int, s float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * s)
		}
		return v
	}
	x, w, bias := rnd(lin.In*lin.HW, 1), rnd(lin.Out*lin.In, 1/math.Sqrt(float64(lin.In))), rnd(lin.Out, 0.1)
	g, be, gs, res := rnd(lin.In, 1), rnd(lin.In, 0.1), rnd(lin.Out, 1), rnd(lin.Out*lin.HW, 1)
	ln := op.LayerNorm{C: lin.In, HW: lin.HW, Eps: 1e-6}
	abs := func(v []float32) []float32 {
		o := make([]float32, len(v))
		for i, f := range v {
			o[i] = float32(math.Abs(float64(f)))
		}
		return o
	}
	var want, s []float32
	xin := x
	if epi == 1 {
		xin, _ = cpu.LayerNorm(x, g, be, ln)
	}
	v, _ := cpu.Linear(xin, w, bias, lin)
	s, _ = cpu.Linear(abs(xin), abs(w), abs(bias), lin)
	if epi == 1 {
		want, _ = cpu.GELU(v, op.Elementwise{N: len(v)})
	} else {
		want, _ = cpu.ScaleResidual(res, v, gs, op.ScaleResidual{C: lin.Out, HW: lin.HW})
		for i := range s {
			s[i] = float32(math.Abs(float64(res[i]))) + float32(math.Abs(float64(gs[i/lin.HW])))*s[i]
		}
	}
	up := func(v []float32, shape ...int) op.Tensor {
		t, err := b.Upload(v, shape...)
		if err != nil {
			panic(err)
		}
		return t
	}
	ins := []op.Tensor{up(x, lin.In, lin.HW), up(w, lin.Out, lin.In), up(bias, lin.Out), up(g, lin.In), up(be, lin.In), up(gs, lin.Out), up(res, lin.Out, lin.HW)}
	defer func() {
		for _, t := range ins {
			b.Free(t)
		}
	}()
	var yt op.Tensor
	var err error
	if epi == 1 {
		yt, err = b.LNLinearGELU(ins[0], ins[3], ins[4], ins[1], ins[2], ln, lin)
	} else {
		yt, err = b.LinearScaleResidual(ins[0], ins[1], ins[2], ins[5], ins[6], lin)
	}
	if err != nil {
		return fmt.Sprintf("epi=%d: error: %v", epi, err), false
	}
	got, err := b.Download(yt)
	b.Free(yt)
	if err != nil {
		return fmt.Sprintf("epi=%d: error: %v", epi, err), false
	}
	f := 4*math.Sqrt(float64(lin.In+1)) + 2
	worst, at, nbad := 0.0, 0, 0
	for i := range want {
		tol := f*math.Ldexp(1, -24)*float64(s[i]) + 1e-6*float64(s[i]) + 1e-6
		if epi == 1 {
			tol *= 1.2 // an error on v reaches GELU(v) times GELU'(v) ≤ 1.13
		}
		d := math.Abs(float64(got[i] - want[i]))
		if !(d <= tol) {
			nbad++
		}
		if q := d / tol; q > worst || math.IsNaN(d) {
			worst, at = q, i
		}
	}
	line := fmt.Sprintf("epi=%d n=%d max|Δ|/tol %.3g at [%d,%d] (ref %v, got %v)", epi, len(want), worst, at/lin.HW, at%lin.HW, want[at], got[at])
	if nbad > 0 {
		return fmt.Sprintf("%s: FAIL %d outside tolerance", line, nbad), false
	}
	return line, true
}

// runTuneAB times SLaK-T's pointwise layers at 224² (stages 0–3: pw1 with LayerNorm + GELU, pw2
// with scale + residual) with Backend.Tune, whose interleaved samples are the A/B of the static
// GEMM (matmul_fast_v4.wgsl) against matmul_sg.wgsl on this device, and writes its report.
func runTuneAB(sb *strings.Builder, b *gpu.Backend, samples int) {
	dims, hs := [4]int{124, 249, 499, 998}, [4]int{56, 28, 14, 7}
	var layers []gpu.TuneLayer
	for s := 0; s < 4; s++ {
		c, hw := dims[s], hs[s]*hs[s]
		layers = append(layers,
			gpu.TuneLayer{Kind: "lnlineargelu", Name: fmt.Sprintf("slak_t_s%d_pw1", s), Lin: op.Linear{In: c, Out: 4 * c, HW: hw, Bias: true}},
			gpu.TuneLayer{Kind: "linearscaleresidual", Name: fmt.Sprintf("slak_t_s%d_pw2", s), Lin: op.Linear{In: 4 * c, Out: c, HW: hw, Bias: true}})
	}
	rep, err := b.Tune(layers, gpu.TuneOptions{Samples: samples, Budget: 1 << 62})
	if err != nil {
		fmt.Fprintf(sb, "TUNE ERROR: %v\n", err)
	}
	if rep != nil {
		sb.WriteString(rep.String())
	}
}

// runForwardAB loads the model name (SLaK-T by default) with the app's built-in weights (seeded random, 40% sparse, GEMM
// weights half as convert.HalfWeights makes them), tunes the backend for its 224² layer
// configurations as the app does (model.Net.Configs → Backend.Tune) and then times whole
// forwards with the tuned choices on and off (Backend.UseTuning), interleaved after one warm-up
// each: the end-to-end effect of the tuner on this adapter.
func runForwardAB(sb *strings.Builder, b *gpu.Backend, name string, n int) {
	fail := func(what string, err error) { fmt.Fprintf(sb, "FWD ERROR: %s: %v\n", what, err) }
	v, err := model.Lookup(name)
	if err != nil {
		fail("lookup", err)
		return
	}
	sd, err := model.RandomWeights(v, 1, 0.4)
	if err == nil {
		sd, err = convert.HalfWeights(v, sd)
	}
	if err != nil {
		fail("weights", err)
		return
	}
	net, err := model.Load(b, v, sd)
	if err != nil {
		fail("load", err)
		return
	}
	defer net.Free()
	net.LogitsOnly = true
	cs, err := net.Configs(224, 224)
	if err != nil {
		fail("configs", err)
		return
	}
	layers := make([]gpu.TuneLayer, len(cs))
	for i, c := range cs {
		layers[i] = gpu.TuneLayer(c)
	}
	rep, err := b.Tune(layers, gpu.TuneOptions{Samples: 2, Budget: 3 * time.Minute})
	if rep != nil {
		sb.WriteString(rep.String())
	}
	if err != nil {
		fail("tune", err)
		return
	}
	r := rand.New(rand.NewPCG(7, 7))
	x := make([]float32, 3*224*224)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	defer b.UseTuning(true)
	var on, off []float64
	for i := -1; i < n; i++ {
		for _, tuned := range []bool{true, false} {
			b.UseTuning(tuned)
			t0 := time.Now()
			if _, err := net.Forward(x, 224, 224); err != nil {
				fail("forward", err)
				return
			}
			ms := float64(time.Since(t0).Microseconds()) / 1000
			if i >= 0 && tuned {
				on = append(on, ms)
			} else if i >= 0 {
				off = append(off, ms)
			}
		}
	}
	sort.Float64s(on)
	sort.Float64s(off)
	fmt.Fprintf(sb, "FWD %s 224² (half GEMM weights, 40%% sparse): tuned %v ms, static %v ms; medians %.0f / %.0f ms: static/tuned x%.2f (%d interleaved samples each after one warm-up)\n",
		name, on, off, on[len(on)/2], off[len(off)/2], off[len(off)/2]/on[len(on)/2], n)
}
