//go:build !js

package gpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/op"
)

// TestConvS2D: patchify convolutions through space_to_depth.wgsl + matmul_lane.wgsl (forced on
// whatever the adapter, ConvS2D) against engine/cpu.Conv2D, on the real stem/downsample shapes
// and awkward ones: odd Cin/Cout (5→7, 249→499), planes not a multiple of the stride (rows and
// columns past the last patch unread), S = 3, HW = 49 and HW = 9 (not multiples of 4), no bias.
// Tolerance: fast_test.go's f·u·S bound, f = 4√K + 2 for K = Cin·S²+1 terms (the GEMM sums
// in another order than the CPU). With half W: bit for bit the result of W's f32 expansion
// (half_test.go's argument: exact widening, same order).
func TestConvS2D(t *testing.T) {
	b := backend(t)
	saved := []bool{ConvS2D, GEMMVec4, gemmLaneForce}
	ConvS2D, GEMMVec4, gemmLaneForce = true, true, true
	t.Cleanup(func() { ConvS2D, GEMMVec4, gemmLaneForce = saved[0], saved[1], saved[2] })
	r := rand.New(rand.NewPCG(9, 2))
	for _, p := range []op.Conv2D{
		{Cin: 3, H: 224, W: 224, Cout: 124, KH: 4, KW: 4, Stride: 4, Bias: true}, // SLaK-T stem
		{Cin: 124, H: 56, W: 56, Cout: 249, KH: 2, KW: 2, Stride: 2, Bias: true}, // SLaK-T downsample 1
		{Cin: 249, H: 14, W: 14, Cout: 499, KH: 2, KW: 2, Stride: 2, Bias: true}, // HW 49
		{Cin: 5, H: 17, W: 13, Cout: 7, KH: 2, KW: 2, Stride: 2},                 // odd plane, no bias
		{Cin: 4, H: 10, W: 11, Cout: 9, KH: 3, KW: 3, Stride: 3, Bias: true},     // S = 3, HW 9
	} {
		if !patchify(p) {
			t.Fatalf("%+v: not a patchify convolution", p)
		}
		x := rnd(r, p.Cin*p.H*p.W, 1)
		w := rnd(r, p.Cout*p.Cin*p.KH*p.KW, 0.2)
		var bias []float32
		if p.Bias {
			bias = rnd(r, p.Cout, 1)
		}
		what := fmt.Sprintf("conv2d/s2d_%d_to_%d_%dx%d_s%d", p.Cin, p.Cout, p.H, p.W, p.Stride)
		yg, err := b.Conv2D(up(t, b, x, p.Cin, p.H, p.W), up(t, b, w, p.Cout, p.Cin, p.KH, p.KW), up(t, b, bias, p.Cout), p)
		if err != nil {
			t.Fatal(err)
		}
		if s := yg.Shape(); len(s) != 3 || s[0] != p.Cout || s[1] != p.OutH() || s[2] != p.OutW() {
			t.Fatalf("%s: shape %v, want [%d %d %d]", what, s, p.Cout, p.OutH(), p.OutW())
		}
		want, _ := cpu.Conv2D(x, w, bias, p)
		s, _ := cpu.Conv2D(abs32(x), abs32(w), abs32(bias), p)
		within(t, what, p.OutH()*p.OutW(), down(t, b, yg), want, s, 4*math.Sqrt(float64(p.Cin*p.KH*p.KW+1))+2, 0, 0)

		// half W: the same kernel on the half tensor and on its f32 widening, bit for bit
		bits, wf := halfBits(r, len(w), 0.2)
		yh, err := b.Conv2D(up(t, b, x, p.Cin, p.H, p.W), upHalf(t, b, bits, p.Cout, p.Cin, p.KH, p.KW), up(t, b, bias, p.Cout), p)
		if err != nil {
			t.Fatal(err)
		}
		yf, err := b.Conv2D(up(t, b, x, p.Cin, p.H, p.W), up(t, b, wf, p.Cout, p.Cin, p.KH, p.KW), up(t, b, bias, p.Cout), p)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, what+"/half", p.OutH()*p.OutW(), down(t, b, yh), down(t, b, yf))
	}
}
