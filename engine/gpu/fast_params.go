package gpu

import (
	"encoding/binary"
	"math"

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
	Params          []byte // 112 bytes, the WGSL Params struct
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
		down = max(down, p.KH-1-p.PadH)
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
	u := make([]uint32, 28)
	u[0], u[1], u[2], u[3] = uint32(p0.C), uint32(p0.H), uint32(p0.W), uint32(oh)
	u[4], u[5], u[6] = uint32(ow), uint32(len(ps)), uint32(pl.BH)
	if hasBias {
		u[7] = 1
	}
	u[8], u[9] = uint32(up), uint32(max(down, 0))
	for b, p := range ps {
		u[12+b], u[16+b], u[20+b], u[24+b] = uint32(p.KH), uint32(p.KW), uint32(p.PadH), uint32(p.PadW)
	}
	pl.Params = u32Bytes(u)
	return pl, true
}

// matmulFastParams is the Params uniform of matmul_fast.wgsl (16 bytes) and its dispatch.
func matmulFastParams(p op.Linear) (params []byte, gx, gy int) {
	b := uint32(0)
	if p.Bias {
		b = 1
	}
	return u32Bytes([]uint32{uint32(p.In), uint32(p.Out), uint32(p.HW), b}), (p.HW + 31) / 32, (p.Out + 31) / 32
}

// lnStatsParams is the Params uniform of fused_lnstats.wgsl (16 bytes) and its dispatch.
func lnStatsParams(p op.LayerNorm) (params []byte, gx int) {
	return u32Bytes([]uint32{uint32(p.C), uint32(p.HW), math.Float32bits(p.Eps), 0}), (p.HW + 63) / 64
}

// fmaPeakParams is the Params uniform of fmapeak.wgsl (16 bytes): the runtime multiplier and
// addend of every FMA chain and the number of invocations.
func fmaPeakParams(n int) []byte {
	return u32Bytes([]uint32{math.Float32bits(0.999), math.Float32bits(1e-3), uint32(n), 0})
}

// FMAPeakFLOPs is the number of floating-point operations one dispatch of fmapeak.wgsl performs:
// 2 per FMA, 16 chains (4 vec4) per invocation, iters per chain, 64 invocations per workgroup.
func FMAPeakFLOPs(groups, iters int) float64 { return 2 * 16 * float64(iters) * 64 * float64(groups) }

func u32Bytes(u []uint32) []byte {
	b := make([]byte, 4*len(u))
	for i, v := range u {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}
