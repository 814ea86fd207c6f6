package gpu

import (
	"testing"

	"github.com/slak-web/slak/engine/op"
)

func TestPlanDWFast(t *testing.T) {
	s0 := []op.DWConv{
		{C: 124, H: 56, W: 56, KH: 51, KW: 5, Stride: 1, PadH: 25, PadW: 2},
		{C: 124, H: 56, W: 56, KH: 5, KW: 51, Stride: 1, PadH: 2, PadW: 25},
		{C: 124, H: 56, W: 56, KH: 5, KW: 5, Stride: 1, PadH: 2, PadW: 2},
	}
	pl, ok := planDWFast(s0, true)
	if !ok || pl.Bands != 1 || pl.BH != 56 || pl.Params.NB != 3 || pl.Params.MaxUp != 25 || pl.Params.MaxDown != 25 {
		t.Fatalf("slak_t_s0: got ok=%v bands=%d BH=%d want one band of 56 rows, 3 branches, up = down = 25 (%+v)", ok, pl.Bands, pl.BH, pl.Params)
	}
	// A 120×70 plane does not fit in 3900 f32: bands of BH rows, (BH+up+down+6)·76 ≤ 3900.
	b := []op.DWConv{{C: 2, H: 120, W: 70, KH: 15, KW: 5, Stride: 1, PadH: 7, PadW: 2}}
	pl, ok = planDWFast(b, false)
	if !ok || pl.BH != 28 || pl.Bands != 5 {
		t.Fatalf("bands_120x70_k15: got ok=%v BH=%d bands=%d, want BH=28, 5 bands", ok, pl.BH, pl.Bands)
	}
	// The refusals: stride 2, mismatched output shapes, a 51-tall kernel on a 100-wide map.
	for name, ps := range map[string][]op.DWConv{
		"stride2":       {{C: 2, H: 9, W: 9, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1}},
		"shape_differs": {s0[0], {C: 124, H: 56, W: 56, KH: 5, KW: 5, Stride: 1}},
		"too_wide_k51":  {{C: 1, H: 100, W: 100, KH: 51, KW: 5, Stride: 1, PadH: 25, PadW: 2}},
		"four_branches": {s0[2], s0[2], s0[2], s0[2]},
	} {
		if _, ok := planDWFast(ps, false); ok {
			t.Errorf("planDWFast(%s) accepted a shape the kernel cannot run", name)
		}
	}
}

func TestPlanDWFast2(t *testing.T) {
	s0 := []op.DWConv{
		{C: 124, H: 56, W: 56, KH: 51, KW: 5, Stride: 1, PadH: 25, PadW: 2},
		{C: 124, H: 56, W: 56, KH: 5, KW: 51, Stride: 1, PadH: 2, PadW: 25},
		{C: 124, H: 56, W: 56, KH: 5, KW: 5, Stride: 1, PadH: 2, PadW: 2},
	}
	p, ok := planDWFast2(s0, true, 2)
	// the 51×5 runs transposed (mode 1: 5 row taps × 51), the 5×51 as is; the 5×5 adds into the
	// 5×51's slots 23 taps further (mode 2); weights: pad 3 (≡ −25 mod 4), rows of 60 f32;
	// plane (56 + 2) rows × 14 vec4 = 812 vec4, + 2 · 5 · 60 / 4 = 150 ≤ 1000
	if !ok || p.Mode0 != 1 || p.Mode1 != 0 || p.Mode2 != 2 || p.Kr0 != 5 || p.Kc0 != 51 || p.Pc0 != 25 ||
		p.Ws0 != 3 || p.Wl0 != 60 || p.Wo0 != 0 || p.Wo1 != 300 || p.Wo2 != 300 || p.Ws2 != 3+23 || p.WBase != 812 {
		t.Fatalf("planDWFast2(slak_t_s0): ok=%v %+v", ok, p)
	}
	// RepLKNet-31B stage 0 (31×31 on 56×56): 31 rows of 40 f32 do not fit beside the plane
	if _, ok := planDWFast2([]op.DWConv{{C: 128, H: 56, W: 56, KH: 31, KW: 31, Stride: 1, PadH: 15, PadW: 15}}, false, 2); ok {
		t.Errorf("planDWFast2(31x31 on 56x56) fits 812 + 310 vec4 in 1000")
	}
	// merged only with the same row taps: a 3×5 keeps its own weights beside a 5×51
	p, ok = planDWFast2([]op.DWConv{s0[1], {C: 124, H: 56, W: 56, KH: 3, KW: 5, Stride: 1, PadH: 1, PadW: 2}}, false, 2)
	if !ok || p.Mode1 != 0 || p.Wo1 != 300 || p.Ws1 != 6 || p.Wl1 != 16 {
		t.Fatalf("planDWFast2(5x51 + 3x5): ok=%v %+v, want the 3x5 unmerged at 300 (shift 6, rows of 16)", ok, p)
	}
}
