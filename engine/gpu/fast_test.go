//go:build !js

package gpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/op"
)

// Tests of the fast kernels (fast.go) against engine/cpu on hostile and real SLaK-T shapes.
// Tolerance: |got − want| ≤ f·u·S + a, where S is the same computation on absolute values (the
// Σ|terms| of every dot product), u = 2⁻²⁴ and f = 4√K + 2 with K the terms per output: two f32
// sums in different orders (Higham–Mary probabilistic bound, as engine/optest). Fused GELU adds
// its erf approximation (A&S 7.1.26, ≤ 1.5e-7 absolute on erf → ≤ 0.75e-7·|v| on y), LayerNorm
// the rounding of its statistics (a relative 1e-6 of S).

const u32eps = 1.0 / (1 << 24)

func rnd(r *rand.Rand, n int, scale float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64() * scale)
	}
	return v
}

func abs32(v []float32) []float32 {
	if v == nil {
		return nil
	}
	o := make([]float32, len(v))
	for i, f := range v {
		o[i] = float32(math.Abs(float64(f)))
	}
	return o
}

func up(t *testing.T, b op.Backend, v []float32, shape ...int) op.Tensor {
	t.Helper()
	if v == nil {
		return nil
	}
	x, err := b.Upload(v, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func down(t *testing.T, b op.Backend, x op.Tensor) []float32 {
	t.Helper()
	v, err := b.Download(x)
	if err != nil {
		t.Fatal(err)
	}
	b.Free(x)
	return v
}

// within fails on the first element outside f·u·S + a (+ rel·|want|) and names op, case,
// coordinate (c, p) in a [rows, cols] view, got, want and the bound.
func within(t *testing.T, what string, cols int, got, want, s []float32, f, a, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		tol := f*u32eps*float64(s[i]) + a + rel*math.Abs(float64(want[i]))
		if !(d <= tol) {
			t.Fatalf("%s: at (c=%d, p=%d): got %g, want %g, |Δ| %.3g > tol %.3g", what, i/cols, i%cols, got[i], want[i], d, tol)
		}
		worst = max(worst, d/tol)
	}
	t.Logf("%s: ok, max |Δ|/tol %.3f", what, worst)
}

func slakDW(c, h, k int) []op.DWConv {
	return []op.DWConv{
		{C: c, H: h, W: h, KH: k, KW: 5, Stride: 1, PadH: k / 2, PadW: 2},
		{C: c, H: h, W: h, KH: 5, KW: k, Stride: 1, PadH: 2, PadW: k / 2},
		{C: c, H: h, W: h, KH: 5, KW: 5, Stride: 1, PadH: 2, PadW: 2},
	}
}

// smallFast makes the fast depthwise kernel take every shape it can (also those dwFastWorth
// leaves to the direct kernel) for the duration of a test.
func smallFast(t *testing.T) {
	dwFastAlways = true
	t.Cleanup(func() { dwFastAlways = false })
}

// TestFastDWConvSum runs every case on dwconv_fast2.wgsl (DWFast2, where its plan fits) with
// workgroups of 8 and of 64 invocations, and on dwconv_fast.wgsl.
func TestFastDWConvSum(t *testing.T) {
	for _, c := range []struct {
		fast2 bool
		wg    int
	}{{true, 8}, {true, 64}, {false, 0}} {
		t.Run(fmt.Sprintf("fast2=%v/wg=%d", c.fast2, c.wg), func(t *testing.T) {
			saved := DWFast2
			DWFast2, dwFast2WGTest = c.fast2, c.wg
			defer func() { DWFast2, dwFast2WGTest = saved, 0 }()
			testFastDWConvSum(t)
		})
	}
}

func testFastDWConvSum(t *testing.T) {
	b := backend(t)
	smallFast(t)
	ref := cpu.NewBackend()
	r := rand.New(rand.NewPCG(6, 1))
	one := func(c, h, w, kh, kw int) op.DWConv {
		return op.DWConv{C: c, H: h, W: w, KH: kh, KW: kw, Stride: 1, PadH: kh / 2, PadW: kw / 2}
	}
	cases := []struct {
		name string
		ps   []op.DWConv
		bias bool
	}{
		{"slak_t_s0_51x5+5x51+5x5_c11", slakDW(11, 56, 51), true},
		{"slak_t_s1_49_c249_h28", slakDW(249, 28, 49), true},
		{"slak_t_s3_13_c7_h7", slakDW(7, 7, 13), false},
		{"kernel_larger_than_map_31_on_9x9", slakDW(3, 9, 31), true},
		{"replk_31x31+5x5_c2_h17x23", []op.DWConv{{C: 2, H: 17, W: 23, KH: 31, KW: 31, Stride: 1, PadH: 15, PadW: 15}, {C: 2, H: 17, W: 23, KH: 5, KW: 5, Stride: 1, PadH: 2, PadW: 2}}, true},
		{"bands_120x70_15x5+5x15", []op.DWConv{{C: 2, H: 120, W: 70, KH: 15, KW: 5, Stride: 1, PadH: 7, PadW: 2}, {C: 2, H: 120, W: 70, KH: 5, KW: 15, Stride: 1, PadH: 2, PadW: 7}}, true},
		{"fallback_k51_on_100x100", slakDW(2, 100, 51)[:2], true},
		{"sparse40_slak_t_s0_c5", slakDW(5, 56, 51), true}, // 40% exact zeros: the zero-skip path
		// dwconv_fast2's edges: W not a multiple of 4 (57, 13, 7: partial vec4 chunks), C = 499,
		// no bias, one tall branch (only the transposed pass), a 5×K with its 5×5 merged, two
		// equal 5×5 (merged), taps clipped on both sides of a map narrower than the kernel
		{"slak_57x57_c3_nobias", slakDW(3, 57, 51), false},
		{"slak_t_s2_47_c499_h14", slakDW(499, 14, 47), true},
		{"slak_13x13_c4_k29", slakDW(4, 13, 29), true},
		{"tall_only_51x5_c3_h57x23", []op.DWConv{one(3, 57, 23, 51, 5)}, false},
		{"wide_merge_5x51+5x5_c3_h13x57", []op.DWConv{one(3, 13, 57, 5, 51), one(3, 13, 57, 5, 5)}, true},
		{"nv14_51x5+5x51_c3_h13x56", []op.DWConv{one(3, 13, 56, 51, 5), one(3, 13, 56, 5, 51)}, true}, // 56-column blocks, R = 1
		{"nv7_49x5+5x49_c2_h57x28", []op.DWConv{one(2, 57, 28, 49, 5), one(2, 57, 28, 5, 49)}, false}, // 28 columns, R = 2, 57 routine columns in the tall pass
		{"equal_5x5+5x5_c2_h7x9", []op.DWConv{one(2, 7, 9, 5, 5), one(2, 7, 9, 5, 5)}, true},
		{"asym_7x3_pad1x4+5x7_pad0x6_c3_h13x11", []op.DWConv{{C: 3, H: 13, W: 11, KH: 7, KW: 3, Stride: 1, PadH: 1, PadW: 4},
			{C: 3, H: 13, W: 11, KH: 5, KW: 7, Stride: 1, PadH: 0, PadW: 6}}, false},
	}
	for _, tc := range cases {
		p0 := tc.ps[0]
		x := rnd(r, p0.C*p0.H*p0.W, 1)
		var ws [][]float32
		var wg, wc, wa []op.Tensor
		for _, p := range tc.ps {
			w := rnd(r, p.C*p.KH*p.KW, 0.1)
			if strings.HasPrefix(tc.name, "sparse40") {
				for i := range w {
					if r.Float64() < 0.4 {
						w[i] = 0
					}
				}
			}
			ws = append(ws, w)
			wg = append(wg, up(t, b, w, p.C, p.KH, p.KW))
			wc = append(wc, up(t, ref, w, p.C, p.KH, p.KW))
			wa = append(wa, up(t, ref, abs32(w), p.C, p.KH, p.KW))
		}
		var bias []float32
		if tc.bias {
			bias = rnd(r, p0.C, 1)
		}
		DWZeroSkip = strings.HasPrefix(tc.name, "sparse40")
		yg, err := b.DWConvSum(up(t, b, x, p0.C, p0.H, p0.W), wg, up(t, b, bias, p0.C), tc.ps)
		DWZeroSkip = false
		if err != nil {
			t.Fatalf("dwconvsum %s: %v", tc.name, err)
		}
		yc, err := ref.DWConvSum(up(t, ref, x, p0.C, p0.H, p0.W), wc, up(t, ref, bias, p0.C), tc.ps)
		if err != nil {
			t.Fatal(err)
		}
		ya, err := ref.DWConvSum(up(t, ref, abs32(x), p0.C, p0.H, p0.W), wa, up(t, ref, abs32(bias), p0.C), tc.ps)
		if err != nil {
			t.Fatal(err)
		}
		k := 1
		for _, p := range tc.ps {
			k += p.KH * p.KW
		}
		within(t, "dwconvsum/"+tc.name, p0.OutH()*p0.OutW(), down(t, b, yg), down(t, ref, yc), down(t, ref, ya), 4*math.Sqrt(float64(k))+2, 0, 0)
	}
}

func TestFastDWConvSingle(t *testing.T) {
	b := backend(t)
	smallFast(t)
	r := rand.New(rand.NewPCG(6, 2))
	for _, p := range []op.DWConv{
		{C: 249, H: 28, W: 28, KH: 7, KW: 7, Stride: 1, PadH: 3, PadW: 3, Bias: true},    // ConvNeXt-T stage 1
		{C: 5, H: 13, W: 11, KH: 7, KW: 3, Stride: 1, PadH: 1, PadW: 4, Bias: true},      // asymmetric, output ≠ input
		{C: 3, H: 14, W: 14, KH: 31, KW: 31, Stride: 1, PadH: 15, PadW: 15, Bias: false}, // RepLKNet stage 2-like
	} {
		x := rnd(r, p.C*p.H*p.W, 1)
		w := rnd(r, p.C*p.KH*p.KW, 0.1)
		bias := rnd(r, p.C, 1)
		if !p.Bias {
			bias = nil
		}
		yg, err := b.DWConv(up(t, b, x, p.C, p.H, p.W), up(t, b, w, p.C, p.KH, p.KW), up(t, b, bias, p.C), p)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := cpu.DWConv(x, w, bias, p)
		s, _ := cpu.DWConv(abs32(x), abs32(w), abs32(bias), p)
		within(t, fmt.Sprintf("dwconv/fast_%dx%d_c%d_%dx%d", p.KH, p.KW, p.C, p.H, p.W), p.OutH()*p.OutW(), down(t, b, yg), want, s, 4*math.Sqrt(float64(p.KH*p.KW+1))+2, 0, 0)
	}
}

func TestFastPointwise(t *testing.T) {
	for _, c := range []struct{ v4, wide, long, tall, square bool }{
		{true, true, true, true, true}, {true, true, true, true, false}, {true, true, false, false, false},
		{true, false, false, false, false}, {false, true, false, false, false}, {false, false, false, false, false},
	} {
		t.Run(fmt.Sprintf("v4=%v/wide=%v/long=%v/tall=%v/square=%v", c.v4, c.wide, c.long, c.tall, c.square), func(t *testing.T) {
			saved, savedV4, savedLong, savedTall, savedSquare, savedLane := GEMMWide, GEMMVec4, GEMMLong, GEMMTall, GEMMSquare, GEMMLane
			GEMMWide, GEMMVec4, GEMMLong, GEMMTall, GEMMSquare, GEMMLane = c.wide, c.v4, c.long, c.tall, c.square, false
			defer func() {
				GEMMWide, GEMMVec4, GEMMLong, GEMMTall, GEMMSquare, GEMMLane = saved, savedV4, savedLong, savedTall, savedSquare, savedLane
			}()
			testFastPointwise(t)
		})
	}
}

// TestFastPointwiseLane runs matmul_lane.wgsl (forced on any adapter) with its rule's blocks
// and hostile ones (R = 5, PB = 3: rows and pixels that tile nothing), pw1's LayerNorm as a
// pass (GEMMLaneLN) and in the loader, and the loaders, FMA order, W rows and pixel layout before
// GEMMLaneFlat, GEMMLaneKInner, GEMMLaneWR and laneNP (old).
func TestFastPointwiseLane(t *testing.T) {
	for _, c := range []struct {
		r, pb      int
		lnPre, old bool
	}{{0, 0, true, false}, {5, 3, false, false}, {0, 0, true, true}} {
		t.Run(fmt.Sprintf("r=%d/pb=%d/lnpre=%v/old=%v", c.r, c.pb, c.lnPre, c.old), func(t *testing.T) {
			saved := []any{GEMMLane, GEMMVec4, gemmLaneForce, GEMMLaneR, GEMMLanePB, GEMMLaneLN, GEMMLaneFlat, GEMMLaneKInner, GEMMLaneWR, GEMMLaneNP}
			GEMMLane, GEMMVec4, gemmLaneForce, GEMMLaneR, GEMMLanePB, GEMMLaneLN = true, true, true, c.r, c.pb, c.lnPre
			GEMMLaneFlat, GEMMLaneKInner, GEMMLaneWR, GEMMLaneNP = !c.old, !c.old, !c.old, 0
			if c.old {
				GEMMLaneNP = laneNI
			}
			defer func() {
				GEMMLane, GEMMVec4, gemmLaneForce = saved[0].(bool), saved[1].(bool), saved[2].(bool)
				GEMMLaneR, GEMMLanePB, GEMMLaneLN = saved[3].(int), saved[4].(int), saved[5].(bool)
				GEMMLaneFlat, GEMMLaneKInner, GEMMLaneWR, GEMMLaneNP = saved[6].(bool), saved[7].(bool), saved[8].(bool), saved[9].(int)
			}()
			testFastPointwise(t)
		})
	}
}

func testFastPointwise(t *testing.T) {
	b := backend(t)
	r := rand.New(rand.NewPCG(6, 3))
	for _, tc := range []struct {
		name string
		p    op.Linear
	}{
		{"odd_37_to_29_hw53", op.Linear{In: 37, Out: 29, HW: 53, Bias: true}},
		{"odd_wide_tile_37_to_129_hw131", op.Linear{In: 37, Out: 129, HW: 131, Bias: true}},
		{"slak_t_s1_pw1_249_996_hw61", op.Linear{In: 249, Out: 996, HW: 61, Bias: true}},
		{"slak_t_s3_pw2_3992_998_hw49", op.Linear{In: 3992, Out: 998, HW: 49, Bias: true}},
		{"slak_t_s0_pw1_124_496_hw3136", op.Linear{In: 124, Out: 496, HW: 3136, Bias: true}},
		{"head_998_to_1000_hw1_nobias", op.Linear{In: 998, Out: 1000, HW: 1}},
		// matmul_fast_v4's vec4 loaders: HW and In multiples of 4 (both, either), with ragged
		// tiles (Out 131, HW 196 = 128 + 68) and a K tail (In 36 = 2·16 + 4)
		{"vec_xw_36_to_131_hw196", op.Linear{In: 36, Out: 131, HW: 196, Bias: true}},
		{"vec_x_37_to_29_hw52", op.Linear{In: 37, Out: 29, HW: 52, Bias: true}},
		{"vec_w_996_to_67_hw49", op.Linear{In: 996, Out: 67, HW: 49, Bias: true}},
	} {
		p := tc.p
		x := rnd(r, p.In*p.HW, 1)
		for i := range x {
			x[i] += 2 // LayerNorm must cancel a common offset
		}
		w := rnd(r, p.Out*p.In, 1/math.Sqrt(float64(p.In)))
		var bias []float32
		if p.Bias {
			bias = rnd(r, p.Out, 0.5)
		}
		g, beta := rnd(r, p.In, 1), rnd(r, p.In, 0.5)
		res, ls := rnd(r, p.Out*p.HW, 1), rnd(r, p.Out, 0.5)
		f := 4*math.Sqrt(float64(p.In+1)) + 2
		xs, ws, bs := up(t, b, x, p.In, p.HW), up(t, b, w, p.Out, p.In), up(t, b, bias, p.Out)

		// Linear (fast path inside op.Backend.Linear)
		yg, err := b.Linear(xs, ws, bs, p)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := cpu.Linear(x, w, bias, p)
		s, _ := cpu.Linear(abs32(x), abs32(w), abs32(bias), p)
		within(t, "linear/"+tc.name, p.HW, down(t, b, yg), want, s, f, 0, 0)

		// LNLinearGELU
		ln := op.LayerNorm{C: p.In, HW: p.HW, Eps: 1e-6}
		yg, err = b.LNLinearGELU(xs, up(t, b, g, p.In), up(t, b, beta, p.In), ws, bs, ln, p)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := cpu.LayerNorm(x, g, beta, ln)
		v, _ := cpu.Linear(h, w, bias, p)
		want, _ = cpu.GELU(v, op.Elementwise{N: len(v)})
		s, _ = cpu.Linear(abs32(h), abs32(w), abs32(bias), p)
		// GELU's slope is ≤ 1.13; erf approximation ≤ 0.75e-7·|v| (bounded via S ≥ |v|);
		// LayerNorm statistics in another order: a relative 1e-6 of S.
		within(t, "lnlineargelu/"+tc.name, p.HW, down(t, b, yg), want, s, 1.13*f+0.75e-7/u32eps+1e-6/u32eps, 0, 0)

		// LinearScaleResidual
		yg, err = b.LinearScaleResidual(xs, ws, bs, up(t, b, ls, p.Out), up(t, b, res, p.Out, p.HW), p)
		if err != nil {
			t.Fatal(err)
		}
		v, _ = cpu.Linear(x, w, bias, p)
		want, _ = cpu.ScaleResidual(res, v, ls, op.ScaleResidual{C: p.Out, HW: p.HW})
		sa, _ := cpu.Linear(abs32(x), abs32(w), abs32(bias), p)
		for i := range sa {
			sa[i] = sa[i]*float32(math.Abs(float64(ls[i/p.HW]))) + float32(math.Abs(float64(res[i])))
		}
		within(t, "linearscaleresidual/"+tc.name, p.HW, down(t, b, yg), want, sa, f+2, 0, 0)
		b.Free(xs)
		b.Free(ws)
		b.Free(bs)
	}
}

// TestFastConv2D: matmul_fast.wgsl's im2col loader (PATCH); ConvS2D off, so the patchify shapes
// take it too (TestConvS2D covers space_to_depth.wgsl).
func TestFastConv2D(t *testing.T) {
	b := backend(t)
	saved := ConvS2D
	ConvS2D = false
	t.Cleanup(func() { ConvS2D = saved })
	r := rand.New(rand.NewPCG(6, 4))
	for _, p := range []op.Conv2D{
		{Cin: 3, H: 224, W: 224, Cout: 124, KH: 4, KW: 4, Stride: 4, Bias: true},   // SLaK-T stem
		{Cin: 124, H: 56, W: 56, Cout: 249, KH: 2, KW: 2, Stride: 2, Bias: true},   // SLaK-T downsample 1
		{Cin: 5, H: 17, W: 13, Cout: 7, KH: 3, KW: 5, Stride: 2, PadH: 1, PadW: 2}, // padded, odd, no bias
		{Cin: 2, H: 9, W: 9, Cout: 3, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Bias: true},
	} {
		x := rnd(r, p.Cin*p.H*p.W, 1)
		w := rnd(r, p.Cout*p.Cin*p.KH*p.KW, 0.2)
		var bias []float32
		if p.Bias {
			bias = rnd(r, p.Cout, 1)
		}
		yg, err := b.Conv2D(up(t, b, x, p.Cin, p.H, p.W), up(t, b, w, p.Cout, p.Cin, p.KH, p.KW), up(t, b, bias, p.Cout), p)
		if err != nil {
			t.Fatal(err)
		}
		if s := yg.Shape(); len(s) != 3 || s[0] != p.Cout || s[1] != p.OutH() || s[2] != p.OutW() {
			t.Fatalf("conv2d fast: shape %v, want [%d %d %d]", s, p.Cout, p.OutH(), p.OutW())
		}
		want, _ := cpu.Conv2D(x, w, bias, p)
		s, _ := cpu.Conv2D(abs32(x), abs32(w), abs32(bias), p)
		within(t, fmt.Sprintf("conv2d/fast_%d_to_%d_%dx%d_k%dx%d_s%d_p%d", p.Cin, p.Cout, p.H, p.W, p.KH, p.KW, p.Stride, p.PadH), p.OutH()*p.OutW(),
			down(t, b, yg), want, s, 4*math.Sqrt(float64(p.Cin*p.KH*p.KW+1))+2, 0, 0)
	}
}

func TestFastDWWorth(t *testing.T) {
	for _, c := range []struct {
		ps   []op.DWConv
		want bool
	}{
		{slakDW(124, 56, 51), true},
		{slakDW(499, 14, 47), true},
		{slakDW(998, 7, 13), false},
		{[]op.DWConv{{C: 384, H: 14, W: 14, KH: 5, KW: 5, Stride: 1, PadH: 2, PadW: 2}}, true}, // dwconv_fast2: 1.63x
		{[]op.DWConv{{C: 384, H: 14, W: 14, KH: 7, KW: 7, Stride: 1, PadH: 3, PadW: 3}}, true},
		{[]op.DWConv{{C: 768, H: 7, W: 7, KH: 7, KW: 7, Stride: 1, PadH: 3, PadW: 3}}, false}, // 0.84x
		{[]op.DWConv{{C: 192, H: 28, W: 28, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1}}, true},
	} {
		pl, ok := planDWFast(c.ps, false)
		if got := ok && dwFastWorth(pl, c.ps); got != c.want {
			t.Errorf("dwFastWorth(%dx%d on %dx%d, %d branches) = %v, want %v", c.ps[0].KH, c.ps[0].KW, c.ps[0].H, c.ps[0].W, len(c.ps), got, c.want)
		}
	}
	// The smallPlanes = false rule (SwiftShader's before dwconv_fast2): 14×14 planes stay direct
	// whatever the taps; 28×28 and 56×56 go fast.
	for _, c := range []struct {
		ps   []op.DWConv
		want bool
	}{
		{slakDW(124, 56, 51), true},
		{slakDW(249, 28, 49), true},
		{slakDW(499, 14, 47), false},
		{[]op.DWConv{{C: 384, H: 14, W: 14, KH: 7, KW: 7, Stride: 1, PadH: 3, PadW: 3}}, false},
	} {
		pl, ok := planDWFast(c.ps, false)
		if got := ok && dwFastWorthOn(pl, c.ps, false); got != c.want {
			t.Errorf("dwFastWorthOn(smallPlanes = false)(%dx%d on %dx%d) = %v, want %v", c.ps[0].KH, c.ps[0].KW, c.ps[0].H, c.ps[0].W, got, c.want)
		}
	}
}

// TestFastDirectSwitch checks that Direct really selects the other path: the dispatch count of a
// fused op differs (one fused pass vs the composition of direct kernels).
func TestFastDirectSwitch(t *testing.T) {
	b := backend(t)
	smallFast(t)
	ps := slakDW(3, 9, 7)
	x := up(t, b, make([]float32, 3*81), 3, 9, 9)
	var ws []op.Tensor
	for _, p := range ps {
		ws = append(ws, up(t, b, make([]float32, p.C*p.KH*p.KW), p.C, p.KH, p.KW))
	}
	count := func(direct bool) int {
		b.Direct = direct
		defer func() { b.Direct = false }()
		d0 := b.Stats.Dispatches
		y, err := b.DWConvSum(x, ws, nil, ps)
		if err != nil {
			t.Fatal(err)
		}
		b.Free(y)
		return b.Stats.Dispatches - d0
	}
	if f, d := count(false), count(true); f != 1 || d != 5 {
		t.Fatalf("dwconvsum dispatches: fast %d (want 1), direct %d (want 3 dwconv + 2 add)", f, d)
	}
	// a 9×9 plane is too small to gain: the automatic choice is the direct composition
	dwFastAlways = false
	if n := count(false); n != 5 {
		t.Fatalf("dwconvsum on 9x9 with the default policy: %d dispatches, want the direct composition (5)", n)
	}
}

// TestFastDW2Validates checks dwconv_fast2.wgsl's generated variants (8 and 64 invocations,
// 16-, 28- and 56-column blocks, zero-skip on and off) with tint (Chromium's compiler, whose
// uniformity analysis guards the barriers) and naga when they are on the PATH.
func TestFastDW2Validates(t *testing.T) {
	tools := wgslValidators(t, "tint", "naga")
	for _, wg := range []int{8, 64} {
		for _, nv := range []int{4, 7, 14} {
			for _, skip := range []bool{false, true} {
				src, err := Source("dwconv_fast2", dwFast2Subst(dwFast2Rows(nv), nv, wg, skip))
				if err != nil {
					t.Fatal(err)
				}
				validateWGSL(t, tools, fmt.Sprintf("dwconv_fast2_wg%d_nv%d_skip%v", wg, nv, skip), src)
			}
		}
	}
}

// TestFastLaneValidates: tint and naga accept generated matmul_lane.wgsl variants (f32 W scalar and
// vec4, realigned W rows, LN in the loader or not, every epilogue, the rule's blocks and a hostile
// one, 8 and 2 invocations along the pixels, both loaders and FMA orders).
func TestFastLaneValidates(t *testing.T) {
	tools := wgslValidators(t, "tint", "naga")
	for _, c := range []struct {
		r, pb, epi, np   int
		ln, vec, wr, old bool
	}{{16, 8, 1, 8, true, true, false, false}, {16, 7, 1, 8, false, true, false, true}, {16, 2, 2, 8, false, false, false, false},
		{5, 3, 0, 2, true, false, false, true}, {16, 4, 1, 8, false, true, false, false}, {16, 7, 2, 2, false, false, true, false}} {
		subst := map[string]string{"ENABLE": "", "WT": "f32", "W1": "wm[i]", "W4": "vec4<f32>(wm[4u * i4], wm[4u * i4 + 1u], wm[4u * i4 + 2u], wm[4u * i4 + 3u])",
			"LN": strconv.FormatBool(c.ln), "EPI": strconv.Itoa(c.epi), "NI": strconv.Itoa(laneNI), "R": strconv.Itoa(c.r), "PB": strconv.Itoa(c.pb), "NP": strconv.Itoa(c.np)}
		if c.vec || c.wr {
			subst["WT"], subst["W1"], subst["W4"] = "vec4<f32>", "wm[i / 4u][i % 4u]", "wm[i4]"
		}
		saved := []bool{GEMMLaneFlat, GEMMLaneKInner}
		GEMMLaneFlat, GEMMLaneKInner = !c.old, !c.old
		subst["DECL"], subst["STEP"], subst["STORE"] = laneBodyW(c.r, c.pb, c.wr)
		GEMMLaneFlat, GEMMLaneKInner = saved[0], saved[1]
		gemmAccess(subst, c.vec, c.vec || c.wr)
		src, err := Source("matmul_lane", subst)
		if err != nil {
			t.Fatal(err)
		}
		validateWGSL(t, tools, fmt.Sprintf("matmul_lane_r%d_pb%d_np%d_epi%d_ln%v_vec%v_wr%v_old%v", c.r, c.pb, c.np, c.epi, c.ln, c.vec, c.wr, c.old), src)
	}
}
