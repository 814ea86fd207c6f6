package gpu

import (
	"fmt"
	"strconv"
	"strings"

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

// DWFast2 runs summed depthwise branches on wgsl/dwconv_fast2.wgsl (4-tap groups on aligned vec4
// windows, tall branches on the transposed plane, the 5×5 merged into the 5×K) wherever its
// plan fits; off, or where it does not fit (planes that need bands, 31×31 on 56×56),
// dwconv_fast.wgsl runs. Interleaved A/B on lavapipe (tools/bench -ab fast2, 15 reps;
// engine/bench/results/lavapipe_2cpu_2026-11-28_dwfast2_*.json): SLaK-T lk_sum stage 0 3.53×,
// stage 1 2.73×, stage 2 2.17× over dwconv_fast.wgsl; the SLaK-T 224² forward 1.55× (3 reps).
var DWFast2 = true

// fastDW2Smem4 is dwconv_fast2.wgsl's workgroup memory in vec4 (15.6 KiB, as dwconv_fast.wgsl).
const fastDW2Smem4 = 1000

// dwFast2Rows is the rows R of dwconv_fast2.wgsl's output block (R × 4·NV per invocation) for
// NV vec4 columns: 1 for 56-column blocks (one window of 15 vec4 and 14 accumulators: 1 window +
// 1 weight load per 224 FMAs), else 2. Interleaved A/B on lavapipe, lk_sum rows: stage 0 (56×56)
// R = 1, NV = 14 against R = 2, NV = 7 1.10x and 1.07x (R = 2, NV = 14 0.98x); stage 1 (28×28)
// R = 1 against 2 at NV = 7 0.98x, 1.09x; with NV = 4 (64 invocations) R = 4 1.06x at stage 0
// but 0.77x / 0.70x at stages 1–2, R = 1 0.92x.
func dwFast2Rows(nv int) int {
	if nv >= 14 {
		return 1
	}
	return 2
}

// dwFast2WG is dwconv_fast2.wgsl's workgroup size on an adapter: 8 on the CPU rasterizers
// (llvmpipe runs 8 invocations as the lanes of one AVX2 batch; a workgroup of one batch needs no
// switching between batches at its barriers), 64 elsewhere. Interleaved A/B on lavapipe, lk_sum
// rows of SLaK-T stages 0/1/2/3 (stage 3 with the fast kernel forced): 16 against 64
// 1.07/1.21/1.47/1.76x, 8 against 16 1.01/1.05/1.15/1.23x, 32 against 16 0.99/0.91/0.87/0.79x.
// SwiftShader (also one thread per workgroup, SIMD batches) takes the same size, unmeasured there.
func dwFast2WG(adapter string) int {
	if dwFast2WGTest != 0 {
		return dwFast2WGTest
	}
	a := strings.ToLower(adapter)
	if strings.Contains(a, "llvmpipe") || strings.Contains(a, "lavapipe") || strings.Contains(a, "swiftshader") {
		return 8
	}
	return 64
}

// dwFast2WGTest, when not 0, overrides dwFast2WG (tests run both sizes on any adapter).
var dwFast2WGTest = 0

// dwFast2NV is the vec4 columns of dwconv_fast2.wgsl's block for output width ow: 14, 7 or 4
// (56, 28 or 16 columns), whichever computes the fewest padded columns (ties: the wider block).
// Interleaved A/B on lavapipe, NV = 7 against 4 (R = 2): 1.12x on 56×56 (64 → 56 columns),
// 0.95–1.05x on 28×28, 0.74x on 14×14 (28 columns for 14); NV = 8 on 56×56 0.95x, NV = 2 0.87x;
// NV = 14 see dwFast2Rows.
func dwFast2NV(ow int) int {
	best := 0
	for _, nv := range []int{14, 7, 4} {
		if best == 0 || ceilDiv(ow, 4*nv)*4*nv < ceilDiv(ow, 4*best)*4*best {
			best = nv
		}
	}
	return best
}

// dwFast2Params mirrors dwconv_fast2.wgsl's Params (per branch b: mode, row/column taps and
// paddings in the branch's orientation, staged weight offset, row length and tap shift, in f32).
type dwFast2Params struct {
	C, H, W, OH, OW, NB, HasBias, WBase uint32
	Mode0, Mode1, Mode2, Kr0, Kr1, Kr2  uint32
	Kc0, Kc1, Kc2, Pr0, Pr1, Pr2        uint32
	Pc0, Pc1, Pc2, Wo0, Wo1, Wo2        uint32
	Wl0, Wl1, Wl2, Ws0, Ws1, Ws2        uint32
}

// planDWFast2 lays out dwconv_fast2.wgsl for the branches ps with R-row blocks: each branch's
// orientation (tall when KH > KW), merges (a branch with the same row taps and row padding as a
// longer one in the same orientation, whose columns it falls inside, adds its weights into it),
// the staged weights, and the workgroup memory (plane and weights in fastDW2Smem4 vec4). ok is
// false when it does not fit or the shapes are not stride-1 branches of one output shape.
func planDWFast2(ps []op.DWConv, hasBias bool, R int) (dwFast2Params, bool) {
	if len(ps) == 0 || len(ps) > 3 {
		return dwFast2Params{}, false
	}
	p0 := ps[0]
	type br struct{ mode, kr, kc, pr, pc, wo, wl, ws int }
	bs := make([]br, len(ps))
	tall := false
	for i, p := range ps {
		if p.Validate() != nil || p.Stride != 1 || p.C != p0.C || p.H != p0.H || p.W != p0.W ||
			p.OutH() != p0.OutH() || p.OutW() != p0.OutW() {
			return dwFast2Params{}, false
		}
		if p.KH > p.KW {
			bs[i] = br{mode: 1, kr: p.KW, kc: p.KH, pr: p.PadW, pc: p.PadH}
			tall = true
		} else {
			bs[i] = br{mode: 0, kr: p.KH, kc: p.KW, pr: p.PadH, pc: p.PadW}
		}
	}
	// merges: b into t when b lies inside t's columns, same orientation and rows; t is longer
	// (or as long and earlier), and t itself is not merged
	into := make([]int, len(bs))
	for i := range into {
		into[i] = -1
	}
	for i, b := range bs {
		for t, tb := range bs {
			if t == i || into[t] >= 0 || tb.mode != b.mode || tb.kr != b.kr || tb.pr != b.pr {
				continue
			}
			if d := tb.pc - b.pc; d >= 0 && d+b.kc <= tb.kc && (tb.kc > b.kc || t < i) {
				into[i] = t
				break
			}
		}
	}
	wo := 0
	for i := range bs {
		if into[i] >= 0 {
			continue
		}
		b := &bs[i]
		b.ws = 3 + ((-b.pc-3)%4+4)%4 // ≡ −pc (mod 4), ≥ 3
		b.wl = (b.ws + b.kc + 3 + 3) / 4 * 4
		b.wo = wo
		wo += b.kr * b.wl
	}
	for i, t := range into {
		if t >= 0 {
			bs[i].mode = bs[t].mode + 2
			bs[i].wo, bs[i].wl, bs[i].ws = bs[t].wo, bs[t].wl, bs[t].ws+bs[t].pc-bs[i].pc
		}
	}
	plane := (p0.H + 2*(R-1)) * ((p0.W + 3) / 4)
	if tall {
		plane = max(plane, (p0.W+2*(R-1))*((p0.H+3)/4))
	}
	if plane+wo/4 > fastDW2Smem4 {
		return dwFast2Params{}, false
	}
	prm := dwFast2Params{C: u(p0.C), H: u(p0.H), W: u(p0.W), OH: u(p0.OutH()), OW: u(p0.OutW()), NB: u(len(ps)),
		HasBias: b2u(hasBias), WBase: u(plane)}
	f := [][]*uint32{
		{&prm.Mode0, &prm.Mode1, &prm.Mode2}, {&prm.Kr0, &prm.Kr1, &prm.Kr2}, {&prm.Kc0, &prm.Kc1, &prm.Kc2},
		{&prm.Pr0, &prm.Pr1, &prm.Pr2}, {&prm.Pc0, &prm.Pc1, &prm.Pc2}, {&prm.Wo0, &prm.Wo1, &prm.Wo2},
		{&prm.Wl0, &prm.Wl1, &prm.Wl2}, {&prm.Ws0, &prm.Ws1, &prm.Ws2},
	}
	for i, b := range bs {
		for k, v := range []int{b.mode, b.kr, b.kc, b.pr, b.pc, b.wo, b.wl, b.ws} {
			*f[k][i] = u(v)
		}
	}
	return prm, true
}

// dwFast2Subst is dwconv_fast2.wgsl's substitutions for R × 4·NV blocks on wg invocations: the unrolled
// accumulators a{k}_{m} (row k, columns 4m..4m+3), the window r{k}_{m} loaded per row tap, the
// body of one group of 4 taps (new chunk n{k}, 4·R·NV vec4 FMAs on constant swizzles, the
// window moved on by one vec4) and the stores.
func dwFast2Subst(R, NV, wg int, skipZero bool) map[string]string {
	var acc, win, grp, st strings.Builder

	for k := 0; k < R; k++ {
		for m := 0; m < NV; m++ {
			fmt.Fprintf(&acc, "    var a%d_%d = vec4<f32>();\n", k, m)
			fmt.Fprintf(&st, "    put(mode, yb, i0 + %d, j0 + %d, a%d_%d, bv);\n", k, 4*m, k, m)
		}
		fmt.Fprintf(&win, "        let o%d = (i0 + %d + ky - PR + (R - 1)) * sw4;\n", k, k)
		for m := 0; m < NV; m++ {
			fmt.Fprintf(&win, "        var r%d_%d = ld(o%d, q + %d, sw4);\n", k, m, k, m)
		}
		fmt.Fprintf(&grp, "          let n%d = ld(o%d, q + %d + g, sw4);\n", k, k, NV)
	}
	next := func(k, m int) string {
		if m+1 == NV {
			return fmt.Sprintf("n%d", k)
		}
		return fmt.Sprintf("r%d_%d", k, m+1)
	}
	comp := "xyzw"
	if !skipZero {
		// per accumulator its 4 taps in a row: the accumulator and its two window registers
		// stay live across 4 FMAs (measured 1.00-1.09x over taps-outer on lavapipe)
		grp.WriteString("          let t0 = vec4<f32>(wv.x);\n          let t1 = vec4<f32>(wv.y);\n          let t2 = vec4<f32>(wv.z);\n          let t3 = vec4<f32>(wv.w);\n")
		for k := 0; k < R; k++ {
			for m := 0; m < NV; m++ {
				for t := 0; t < 4; t++ {
					in := fmt.Sprintf("r%d_%d", k, m)
					if t > 0 {
						in = fmt.Sprintf("vec4<f32>(r%d_%d.%s, %s.%s)", k, m, comp[t:], next(k, m), comp[:t])
					}
					fmt.Fprintf(&grp, "          a%d_%d = fma(t%d, %s, a%d_%d);\n", k, m, t, in, k, m)
				}
			}
		}
	}
	for t := 0; t < 4 && skipZero; t++ {
		fmt.Fprintf(&grp, "          if (!SKIPZERO || wv.%c != 0.0) {\n            let t%d = vec4<f32>(wv.%c);\n", comp[t], t, comp[t])
		for k := 0; k < R; k++ {
			for m := 0; m < NV; m++ {
				in := fmt.Sprintf("r%d_%d", k, m)
				if t > 0 {
					in = fmt.Sprintf("vec4<f32>(r%d_%d.%s, %s.%s)", k, m, comp[t:], next(k, m), comp[:t])
				}
				fmt.Fprintf(&grp, "            a%d_%d = fma(t%d, %s, a%d_%d);\n", k, m, t, in, k, m)
			}
		}
		grp.WriteString("          }\n")
	}
	for k := 0; k < R; k++ {
		for m := 0; m < NV; m++ {
			fmt.Fprintf(&grp, "          r%d_%d = %s;\n", k, m, next(k, m))
		}
	}
	return map[string]string{
		"R": strconv.Itoa(R), "NV": strconv.Itoa(NV), "SMEM4": strconv.Itoa(fastDW2Smem4), "SKIPZERO": strconv.FormatBool(skipZero), "WG": strconv.Itoa(wg),
		"ACC": strings.TrimRight(acc.String(), "\n"), "WIN": strings.TrimRight(win.String(), "\n"),
		"GROUP": strings.TrimRight(grp.String(), "\n"), "STORE": strings.TrimRight(st.String(), "\n"),
	}
}
