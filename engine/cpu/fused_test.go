package cpu

import (
	"math"
	"math/rand"
	"slices"
	"testing"

	"github.com/slak-web/slak/engine/op"
)

// Each fused op equals its composition of plain ops bit for bit (the CPU
// fused ops are that composition; this pins the order of the sums).
func TestFusedEqualsComposition(t *testing.T) {
	r := rand.New(rand.NewSource(30))
	b := NewBackend()

	// pw1 of a SLaK-T stage-1 block at an odd map: C 249 → 4C, 7×5 pixels.
	ln := op.LayerNorm{C: 249, HW: 35, Eps: 1e-6}
	lin := op.Linear{In: 249, Out: 996, HW: 35, Bias: true}
	x, g, be := randSlice(r, 249*35, 1), randSlice(r, 249, 1), randSlice(r, 249, 0.2)
	w, bias := randSlice(r, 996*249, 0.06), randSlice(r, 996, 0.1)
	h, _ := LayerNorm(x, g, be, ln)
	z, _ := Linear(h, w, bias, lin)
	want, _ := GELU(z, op.Elementwise{N: len(z)})
	Y, err := b.LNLinearGELU(up(t, b, x, 249, 35), up(t, b, g, 249), up(t, b, be, 249), up(t, b, w, 996, 249), up(t, b, bias, 996), ln, lin)
	got := down(t, b, "lnlineargelu", Y, err, 996, 35)
	if !slices.Equal(got, want) {
		t.Error("lnlineargelu differs from LayerNorm→Linear→GELU")
	}

	// pw2 + layer scale + residual, without bias.
	l2 := op.Linear{In: 37, Out: 13, HW: 9}
	hh, w2, gm, xr := randSlice(r, 37*9, 1), randSlice(r, 13*37, 0.2), randSlice(r, 13, 1e-2), randSlice(r, 13*9, 1)
	z2, _ := Linear(hh, w2, nil, l2)
	want, _ = ScaleResidual(xr, z2, gm, op.ScaleResidual{C: 13, HW: 9})
	Y, err = b.LinearScaleResidual(up(t, b, hh, 37, 9), up(t, b, w2, 13, 37), nil, up(t, b, gm, 13), up(t, b, xr, 13, 9), l2)
	if got := down(t, b, "linearscaleresidual", Y, err, 13, 9); !slices.Equal(got, want) {
		t.Error("linearscaleresidual differs from Linear→ScaleResidual")
	}

	// SLaK's three branches at stage 3 (K = 13, N = 5) on a 7×7 map, C = 5,
	// plus a 51×5 branch to have a kernel larger than the map.
	ps := []op.DWConv{
		{C: 5, H: 7, W: 7, KH: 13, KW: 5, Stride: 1, PadH: 6, PadW: 2},
		{C: 5, H: 7, W: 7, KH: 5, KW: 13, Stride: 1, PadH: 2, PadW: 6},
		{C: 5, H: 7, W: 7, KH: 5, KW: 5, Stride: 1, PadH: 2, PadW: 2},
		{C: 5, H: 7, W: 7, KH: 51, KW: 5, Stride: 1, PadH: 25, PadW: 2},
	}
	xd := randSlice(r, 5*49, 1)
	bs := randSlice(r, 5, 1)
	var ws []op.Tensor
	sum := make([]float64, 5*49)
	var wantSum []float32
	for k, p := range ps {
		wk := randSlice(r, 5*p.KH*p.KW, 0.1)
		ws = append(ws, up(t, b, wk, 5, p.KH, p.KW))
		yk, _ := DWConv(xd, wk, nil, p)
		if k == 0 {
			wantSum = yk
		} else {
			for j := range yk {
				wantSum[j] += yk[j]
			}
		}
		for j := range yk {
			sum[j] += float64(yk[j])
		}
	}
	for c := 0; c < 5; c++ {
		for j := c * 49; j < (c+1)*49; j++ {
			wantSum[j] += bs[c]
			sum[j] += float64(bs[c])
		}
	}
	Y, err = b.DWConvSum(up(t, b, xd, 5, 7, 7), ws, up(t, b, bs, 5), ps)
	got = down(t, b, "dwconvsum", Y, err, 5, 7, 7)
	if !slices.Equal(got, wantSum) {
		t.Error("dwconvsum differs from the sum of DWConv branches")
	}
	for j := range got { // and the float64 sum of the branches, to a few roundings
		if math.Abs(float64(got[j])-sum[j]) > 1e-5*(1+math.Abs(sum[j])) {
			t.Fatalf("dwconvsum: index %d: got %g, float64 sum %g", j, got[j], sum[j])
		}
	}
	// Errors: a branch with Bias, a branch of another output size.
	bad := slices.Clone(ps)
	bad[1].Bias = true
	if _, err := b.DWConvSum(up(t, b, xd, 5, 7, 7), ws, nil, bad); err == nil {
		t.Error("dwconvsum: branch with Bias: no error")
	}
	bad = slices.Clone(ps)
	bad[2].PadH = 0
	if _, err := b.DWConvSum(up(t, b, xd, 5, 7, 7), ws, nil, bad); err == nil {
		t.Error("dwconvsum: branch with another output size: no error")
	}
}
