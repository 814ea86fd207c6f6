package gpu

import (
	"github.com/slak-web/slak/engine/op"
)

// Host-side planning for the fast kernels (wgsl/dwconv_fast.wgsl, wgsl/matmul_fast.wgsl,
// wgsl/fused_lnstats.wgsl, wgsl/fmapeak.wgsl): which shapes they take, their dispatch geometry
// and the bytes of their Params uniforms. Kept free of device calls so it is tested on its own.

// fastDWSmem is the workgroup tile of dwconv_fast.wgsl in f32 (15.6 KiB of the 16 KiB default).
const fastDWSmem = 3900

// fastDWMargin is the zero margin M around the staged tile in dwconv_fast.wgsl.
const fastDWMargin = 3

// dwFastPlan is the launch plan of dwconv_fast.wgsl for a sum of 1–3 branches.
type dwFastPlan struct {
	C, H, W, OH, OW int
	Bands, BH       int
	Params          dwFastParams
}

// planDWFast reports whether the fast depthwise kernel can run the branches ps (same C, H, W,
// stride 1, same output shape, at most 3) and how. A plane too large for the tile is split into
// bands of BH output rows; when even 4 rows do not fit it reports false (use the direct kernel).
func planDWFast(ps []op.DWConv, hasBias bool) (dwFastPlan, bool) {
	if len(ps) == 0 || len(ps) > 3 {
		return dwFastPlan{}, false
	}
	p0 := ps[0]
	up, down := 0, 0
	for _, p := range ps {
		if p.Validate() != nil || p.Stride != 1 || p.C != p0.C || p.H != p0.H || p.W != p0.W ||
			p.OutH() != p0.OutH() || p.OutW() != p0.OutW() {
			return dwFastPlan{}, false
		}
		up = max(up, p.PadH)
		down = max(down, p.KH-1-p.PadH, 0)
	}
	M := fastDWMargin
	sw := p0.W + 2*M
	oh, ow := p0.OutH(), p0.OutW()
	pl := dwFastPlan{C: p0.C, H: p0.H, W: p0.W, OH: oh, OW: ow}
	if (p0.H+2*M)*sw <= fastDWSmem {
		pl.BH = (oh + 3) / 4 * 4
	} else {
		rows := fastDWSmem/sw - 2*M - up - max(down, 0)
		pl.BH = rows / 4 * 4
		if pl.BH < 4 {
			return dwFastPlan{}, false
		}
	}
	pl.Bands = (oh + pl.BH - 1) / pl.BH
	pl.Params = dwFastParams{C: u(p0.C), H: u(p0.H), W: u(p0.W), OH: u(oh), OW: u(ow), NB: u(len(ps)),
		BH: u(pl.BH), HasBias: b2u(hasBias), MaxUp: u(up), MaxDown: u(down)}
	kh := []*uint32{&pl.Params.Kh0, &pl.Params.Kh1, &pl.Params.Kh2}
	kw := []*uint32{&pl.Params.Kw0, &pl.Params.Kw1, &pl.Params.Kw2}
	ph := []*uint32{&pl.Params.Ph0, &pl.Params.Ph1, &pl.Params.Ph2}
	pw := []*uint32{&pl.Params.Pw0, &pl.Params.Pw1, &pl.Params.Pw2}
	for i, p := range ps {
		*kh[i], *kw[i], *ph[i], *pw[i] = u(p.KH), u(p.KW), u(p.PadH), u(p.PadW)
	}
	return pl, true
}

// FMAPeakFLOPs is the number of floating-point operations one dispatch of fmapeak.wgsl performs:
// 2 per FMA, 16 chains (4 vec4) per invocation, iters per chain, 64 invocations per workgroup.
func FMAPeakFLOPs(groups, iters int) float64 { return 2 * 16 * float64(iters) * 64 * float64(groups) }
