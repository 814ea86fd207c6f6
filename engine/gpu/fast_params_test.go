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
