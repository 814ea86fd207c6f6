package gpu

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/slak-web/slak/engine/op"
)

// The fast kernels (issue 6): wgsl/dwconv_fast2.wgsl (summed depthwise branches, one workgroup
// per channel, plane in workgroup memory, 4-tap groups on aligned vec4 windows, tall branches on
// the transposed plane; DWFast2) with wgsl/dwconv_fast.wgsl (sliding 16-wide windows, bands for
// planes too large) where its plan does not fit, wgsl/matmul_fast.wgsl (tiled GEMM with
// LayerNorm prologue and bias/GELU/residual epilogues) with its pre-pass wgsl/fused_lnstats.wgsl,
// and wgsl/fmapeak.wgsl (the FMA roofline of the benchmark). Pointwise layers run on
// wgsl/matmul_fast_v4.wgsl (vec4 loaders and output, 16×16 / 8×16 / 16×8 blocks per invocation
// by shape: GEMMVec4, GEMMSquare, GEMMLong, GEMMTall); matmul_fast.wgsl keeps the im2col
// convolutions (PATCH) and the GEMMVec4 = false baseline. On llvmpipe (lavapipe) the pointwise
// layers run on wgsl/matmul_lane.wgsl instead (8-invocation workgroups, no workgroup memory;
// GEMMLane). The Backend uses them by default
// inside DWConv and Linear and for op.Fused; Backend.Direct forces the direct kernels (the
// baseline of engine/bench and the conformance suite).

var _ op.Fused = (*Backend)(nil)

// DWZeroSkip compiles dwconv_fast.wgsl and dwconv_fast2.wgsl with the zero-tap skip (SKIPZERO):
// the FMAs of a channel's zero taps are skipped, in uniform control flow. It is SLaK's sparsity
// path (40% of the depthwise taps are exact zeros); engine/bench measures it on and off (rows
// *_sparse40). Off by default: on lavapipe dwconv_fast.wgsl gave 0.7–1.3× over two runs, and
// dwconv_fast2.wgsl 0.74–0.81× (stages 0–1; stage 2 1.01×). Why, for stage 0 (lavapipe, fma
// peak 95 GFLOP/s): the fused block takes 16 ms, of which ≈ 3.6 ms is the dispatch itself (a
// kernel that returns at once) and 4.4 ms the dense FMAs at the peak (416 MFLOP); skipping 40%
// of the FMAs saves ≤ 1.8 ms (≤ 1.12× with free branches), while the branch per tap costs more
// and breaks dwconv_fast2's accumulator-major FMA order (worth 1.00–1.09×). The loads of the
// 4-tap groups are shared by all 4 taps, so skipping taps cannot save them.
var DWZeroSkip = false

// GEMMWide lets matmul_fast.wgsl use 128×128 tiles (16×16 invocations) when Out and HW are both
// ≥ 128 (not for convolutions): the loaders then cost half the loads per FMA.
var GEMMWide = true

// dwFastWorth is the automatic choice between the fast depthwise kernel and the direct one, from
// interleaved measurements on lavapipe of dwconv_fast2.wgsl (8-invocation workgroups) against the
// direct kernels (C, plane, kernel: direct/fast): planes of 14×14 and up gain whatever their taps
// (384 14×14: 3×3 1.26×, 5×5 1.63×, 7×7 2.70×, 31×31 3.79×; SLaK-T stage 2 5×5 2.1×, 47×5
// 2.8×; 192 28×28: 3×3 2.17×, 7×7 4.90×), 7×7 planes (49 output pixels) do not: one workgroup
// per channel of 49 outputs costs more than it saves (768 7×7: 7×7 0.84×, 3×3 0.53×; SLaK-T
// stage 3 13×5 0.59×, 5×5 0.66×, the three summed 1.03×). Before dwconv_fast2 the 14×14 line
// lay at 49 taps (dwconv_fast.wgsl: 5×5 0.6–0.8×, 3×3 0.45×). dwFastAlways (tests) takes every
// shape the kernel can run.
func dwFastWorth(pl dwFastPlan, ps []op.DWConv) bool { return dwFastWorthOn(pl, ps, true) }

// dwFastWorthOn is dwFastWorth with the small-plane rule switched: smallPlanes = false keeps
// planes under 400 output pixels on the direct kernels whatever their taps. No adapter takes
// that today: it was SwiftShader's rule while dwconv_fast.wgsl ran 14×14 planes at 0.70× the
// direct kernels there (engine/bench/results/swiftshader_chromium_2cpu_2026-11-28.json), but the
// run-time tuner measured dwconv_fast2.wgsl at 2.2× direct on SwiftShader's 14×14 stage-2
// block (135 vs 304 ms, headless Chromium), as on lavapipe.
func dwFastWorthOn(pl dwFastPlan, ps []op.DWConv, smallPlanes bool) bool {
	if dwFastAlways {
		return true
	}
	px := pl.OH * pl.OW
	return px >= 128 && (px >= 400 || smallPlanes)
}

// dwFastWorth is the choice Backend.Tune measured for ps on this device (tune.go), else the
// static rule (dwFastWorth).
func (b *Backend) dwFastWorth(pl dwFastPlan, ps []op.DWConv) bool {
	if fast, ok := b.dwTunedFast(ps); ok && !dwFastAlways {
		return fast
	}
	return dwFastWorth(pl, ps)
}

var dwFastAlways = false

// GEMMVec4 runs the pointwise layers (not the im2col convolutions) on matmul_fast_v4.wgsl, the
// GEMM with vec4 loaders, instead of matmul_fast.wgsl.
var GEMMVec4 = true

// GEMMLong gives matmul_fast_v4.wgsl's invocations 8 × 16 blocks (tile 64 × 128, PB = 4) where
// HW ≥ 128, before GEMMWide's 128×128 tiles.
var GEMMLong = true

// GEMMTall gives matmul_fast_v4.wgsl's invocations 16 × 8 blocks (tile 128 × 64, OB = 4) where
// HW < 128 and Out ≥ 128 (SLaK-T stage 3, 7×7).
var GEMMTall = true

// GEMMSquare gives matmul_fast_v4.wgsl's invocations 16 × 16 blocks (tile 128 × 128 on 8×8
// invocations, PB = OB = 4) where HW and Out are both ≥ 128, before GEMMLong.
var GEMMSquare = true

// Params mirrors of the fast kernels (checked by TestParamsLayout like the direct ones).
type (
	dwFastParams struct {
		C, H, W, OH, OW, NB, BH, HasBias, MaxUp, MaxDown           uint32
		Kh0, Kh1, Kh2, Kw0, Kw1, Kw2, Ph0, Ph1, Ph2, Pw0, Pw1, Pw2 uint32
	}
	matmulFastParams struct {
		Inp, Out, HW, HasBias       uint32
		H, W, KH, KW, S, PH, PW, OW uint32
	}
	lnStatsParams struct {
		C, HW uint32
		Eps   float32
		Pad   uint32
	}
	fmaPeakParams struct {
		M, C float32
		N    uint32
		Pad  uint32
	}
)

func init() {
	kernels["dwconv_fast"] = kernel{5, dwFastParams{}}
	kernels["dwconv_fast2"] = kernel{5, dwFast2Params{}}
	kernels["matmul_fast"] = kernel{6, matmulFastParams{}}
	kernels["matmul_fast_v4"] = kernel{6, matmulFastParams{}}
	kernels["matmul_lane"] = kernel{6, matmulFastParams{}}
	kernels["fused_lnstats"] = kernel{1, lnStatsParams{}}
	kernels["layernorm_lane"] = kernel{3, normParams{}}
	kernels["fmapeak"] = kernel{0, fmaPeakParams{}}
}

func b2u(v bool) uint32 {
	if v {
		return 1
	}
	return 0
}

// dwFast records dwconv_fast.wgsl for the branches ps over x (weights ws, optional bias) and
// reports false when the kernel cannot take the shapes (stride ≠ 1, a plane too wide for the
// tile, more than 3 branches): the caller then uses the direct kernel.
func (b *Backend) dwFast(opName string, xt *Tensor, ws []*Tensor, bt *Tensor, ps []op.DWConv) (*Tensor, bool, error) {
	pl, ok := planDWFast(ps, bt != nil)
	if !ok || !b.dwFastWorth(pl, ps) {
		return nil, false, nil
	}
	w3 := []*Tensor{ws[0], ws[0], ws[0]}
	copy(w3, ws)
	if DWFast2 {
		nv := dwFast2NV(pl.OW)
		if prm, ok := planDWFast2(ps, bt != nil, dwFast2Rows(nv)); ok {
			subst := dwFast2Subst(dwFast2Rows(nv), nv, dwFast2WG(b.info.Name), b.dwZeroSkip(ps))
			y, err := b.run(opName, "dwconv_fast2", subst, prm, []*Tensor{xt, w3[0], w3[1], w3[2], bt}, [3]uint32{u(pl.C), 1, 1}, pl.C, pl.OH, pl.OW)
			return y, true, err
		}
	}
	subst := map[string]string{"SMEM": strconv.Itoa(fastDWSmem), "SKIPZERO": strconv.FormatBool(b.dwZeroSkip(ps))}
	grid := [3]uint32{u(pl.C), u(pl.Bands), 1}
	y, err := b.run(opName, "dwconv_fast", subst, pl.Params, []*Tensor{xt, w3[0], w3[1], w3[2], bt}, grid, pl.C, pl.OH, pl.OW)
	return y, true, err
}

// matmulFast records matmul_fast.wgsl: y = epi(W · prologue(x) + b). ln (stats, γ, β) and res
// (r, g; epi = 2) are nil when unused.
func (b *Backend) matmulFast(opName string, xt, wt, bt *Tensor, ln []*Tensor, res []*Tensor, epi int, p op.Linear) (*Tensor, error) {
	return b.matmulFastConv(opName, xt, wt, bt, ln, res, epi, p, nil)
}

// matmulFastConv is matmulFast with an im2col loader when conv is not nil (PATCH): x is the conv
// input, p the GEMM view (In = Cin·KH·KW, Out = Cout, HW = OutH·OutW).
func (b *Backend) matmulFastConv(opName string, xt, wt, bt *Tensor, ln []*Tensor, res []*Tensor, epi int, p op.Linear, conv *op.Conv2D) (*Tensor, error) {
	// matmul_sg.go: tuned, or forced by GEMMSubgroups; a LayerNorm-pass configuration reads x̂,
	// which only LNLinearGELU records (with ln here, the loader normalises: the static GEMM)
	if v, sg := b.useSG(p, ln != nil, epi); conv == nil && sg && !v.lnPass {
		if y, ok, err := b.matmulSG(opName, xt, wt, bt, ln, res, epi, p, v); ok {
			return y, err
		}
	}
	if conv == nil && GEMMVec4 {
		if r, pb, ok := b.gemmLane(p, ln != nil || epi != 0); ok {
			return b.matmulLane(opName, xt, wt, bt, ln, res, epi, p, r, pb)
		}
		return b.matmulFastV4(opName, xt, wt, bt, ln, res, epi, p)
	}
	tile := 64
	if GEMMWide && conv == nil && p.Out >= 128 && p.HW >= 128 {
		tile = 128
	}
	wt, subst, err := b.halfW(opName, wt, "wm", false)
	if err != nil {
		return nil, err
	}
	subst["LN"], subst["EPI"], subst["PATCH"], subst["WG"] = strconv.FormatBool(ln != nil), strconv.Itoa(epi), strconv.FormatBool(conv != nil), strconv.Itoa(tile/8)
	prm := matmulFastParams{Inp: u(p.In), Out: u(p.Out), HW: u(p.HW), HasBias: b2u(bt != nil)}
	shape := []int{p.Out, p.HW}
	if conv != nil {
		c := *conv
		prm.H, prm.W, prm.KH, prm.KW, prm.S = u(c.H), u(c.W), u(c.KH), u(c.KW), u(c.Stride)
		prm.PH, prm.PW, prm.OW = u(c.PadH), u(c.PadW), u(c.OutW())
		shape = []int{c.Cout, c.OutH(), c.OutW()}
	}
	grid := [3]uint32{u(ceilDiv(p.HW, tile)), u(ceilDiv(p.Out, tile)), 1}
	y, retry, err := b.runHalf(opName, "matmul_fast", subst, prm, gemmArgs(xt, wt, bt, ln, res), grid, shape...)
	if retry { // the device rejected `enable f16;`: again with the u32 words
		return b.matmulFastConv(opName, xt, wt, bt, ln, res, epi, p, conv)
	}
	return y, err
}

// matmulFastV4 records matmul_fast_v4.wgsl (matmulFast with vec4 loaders).
func (b *Backend) matmulFastV4(opName string, xt, wt, bt *Tensor, ln []*Tensor, res []*Tensor, epi int, p op.Linear) (*Tensor, error) {
	tile, pb, ob := 64, 2, 2
	switch {
	case GEMMSquare && p.HW >= 128 && p.Out >= 128:
		pb, ob = 4, 4
	case GEMMLong && p.HW >= 128:
		pb = 4
	case GEMMWide && p.Out >= 128 && p.HW >= 128:
		tile = 128
	case GEMMTall && p.Out >= 128:
		ob = 4
	}
	tp, to := tile/2*pb, tile/2*ob // 4·WG·PB pixels, 4·WG·OB rows
	// element access by binding type: x, aux0 (stats or residual) and y are vec4 arrays when
	// HW % 4 == 0, W is read as vec4 when In % 4 == 0 (its binding type from halfW)
	xv, wv := p.HW%4 == 0, p.In%4 == 0
	wt0 := wt
	wt, subst, err := b.halfW(opName, wt, "wm", wv)
	if err != nil {
		return nil, err
	}
	for k, v := range map[string]string{"LN": strconv.FormatBool(ln != nil), "EPI": strconv.Itoa(epi), "WG": strconv.Itoa(tile / 8),
		"PB": strconv.Itoa(pb), "BS": strconv.Itoa(128 * pb), "OB": strconv.Itoa(ob), "AS": strconv.Itoa(128 * ob)} {
		subst[k] = v
	}
	gemmAccess(subst, xv, wv)
	prm := matmulFastParams{Inp: u(p.In), Out: u(p.Out), HW: u(p.HW), HasBias: b2u(bt != nil)}
	grid := [3]uint32{u(ceilDiv(p.HW, tp)), u(ceilDiv(p.Out, to)), 1}
	y, retry, err := b.runHalf(opName, "matmul_fast_v4", subst, prm, gemmArgs(xt, wt, bt, ln, res), grid, p.Out, p.HW)
	if retry { // the device rejected `enable f16;`: again with the u32 words
		return b.matmulFastV4(opName, xt, wt0, bt, ln, res, epi, p)
	}
	return y, err
}

// gemmArgs is the binding list of the GEMM kernels (matmul_fast, matmul_fast_v4, matmul_lane,
// matmul_sg): x, W, bias, then aux0..2 = LayerNorm's (stats, γ, β) or the residual's (r, g) or
// nothing.
func gemmArgs(xt, wt, bt *Tensor, ln, res []*Tensor) []*Tensor {
	aux := []*Tensor{nil, nil, nil}
	if ln != nil {
		copy(aux, ln)
	}
	if res != nil {
		copy(aux, res)
	}
	return []*Tensor{xt, wt, bt, aux[0], aux[1], aux[2]}
}

// gemmAccess sets the element-access substitutions shared by matmul_fast_v4.wgsl,
// matmul_lane.wgsl and matmul_sg.wgsl: x, aux0 (stats or residual) and y are vec4 arrays when HW % 4 == 0 (xv), W is
// read as vec4 when In % 4 == 0 (wv; its binding type comes from halfW).
func gemmAccess(subst map[string]string, xv, wv bool) {
	subst["XV"], subst["WV"] = strconv.FormatBool(xv), strconv.FormatBool(wv)
	for _, m := range []struct {
		name, arr string
		vec       bool
	}{{"X", "x", xv}, {"R", "aux0", xv}} {
		if m.vec {
			subst[m.name+"1"] = m.arr + "[i / 4u][i % 4u]"
			subst[m.name+"4"] = m.arr + "[i4]"
		} else {
			subst[m.name+"1"] = m.arr + "[i]"
			subst[m.name+"4"] = "vec4<f32>(" + m.arr + "[4u * i4], " + m.arr + "[4u * i4 + 1u], " + m.arr + "[4u * i4 + 2u], " + m.arr + "[4u * i4 + 3u])"
		}
	}
	subst["XT"] = "f32"
	subst["Y1"], subst["Y4"] = "y[i] = v", "for (var j = 0u; j < 4u; j = j + 1u) { y[4u * i4 + j] = v[j]; }"
	if xv {
		subst["XT"], subst["Y1"], subst["Y4"] = "vec4<f32>", "y[i / 4u][i % 4u] = v", "y[i4] = v"
	}
}

// GEMMLane runs the pointwise layers on matmul_lane.wgsl (8-invocation workgroups = one llvmpipe
// SIMD batch, no workgroup memory, no barriers, W's loads workgroup-uniform) on llvmpipe
// (gemmLaneAdapter); other adapters keep matmul_fast_v4.wgsl's 64-invocation workgroups.
// Interleaved A/B on lavapipe (2 shared cores, `go run ./tools/bench -forwards=false -filter pw
// -reps 5 -ab lane`, block 16 × 4·PB): SLaK-T stage 0 pw1 (LN+GELU) 1.10–1.23×, pw2
// (scale+residual) 1.56–1.68× over three runs; PB = 2 was 0.86–0.90× on pw1 before its
// LayerNorm moved to a pass (GEMMLaneLN). See gemmLane for the block rule. With that rule
// (16×7; -reps 10 -ab lane): pw1/pw2 s0 1.30/1.76×, s1 1.24/1.32×, s2 1.57/1.57×, s3 1.26/1.26×;
// fast vs direct (-reps 10, peak 93.8 GFLOP/s): s0 pw1 30.0 ms 12.9 GFLOP/s 13.7% of peak 9.8×,
// pw2 22.1 ms 17.4 GFLOP/s 18.6% 13.0×; s1 14.1%/16.7%, s2 14.9%/18.5%, s3 8.9%/10.3%.
// Since the switches below (GEMMLaneFlat, GEMMLaneKInner, GEMMLaneWR, laneNP; -ab lanev2 against
// all four off, -reps 10, two runs on a shared, noisy machine): pw1/pw2 s0 1.33–1.41/1.23–1.39×,
// s1 1.47–1.64/1.41–1.50×, s2 1.48–1.51/1.26–1.32×, s3 1.51–1.96/1.64–1.65×; fast vs direct
// (two runs, peak 78–84 GFLOP/s): s0 pw1 35.5–36.5 ms, 12.9–13.6% of peak, 12.8–13.6× direct
// (15.0% in an earlier run); pw2 15.6–18.3%, s3 pw1/pw2 12.0–13.5%. Why: Mesa 22.3's llvmpipe
// loads every storage value, uniform address or not, in a loop over the 8 lanes of the batch
// with a bounds check per component (read off the JIT code in lavapipe's shader cache), so
// loads per FMA decide.
var GEMMLane = true

// GEMMLaneLN normalises pw1's input with layernorm.wgsl before matmul_lane.wgsl (instead of
// the LayerNorm in its loader) when LNLinearGELU takes matmul_lane.wgsl: in the loader every x
// element is normalised once per 16 rows, with γ[k], β[k] loaded by every invocation; as a pass
// once (one more dispatch, x̂ written and read once). Interleaved on lavapipe (-ab laneln, block
// 16×4): pw1 of stages 0–3 1.12/1.24/1.29/1.24×.
var GEMMLaneLN = true

// GEMMLaneHoist loads matmul_lane.wgsl's bias and layer scale once per row (rowc, store4l)
// instead of in every store4. Interleaved on lavapipe (-ab lanehoist, -reps 10): 1.00–1.06× on
// SLaK-T pw1/pw2 of stages 0–3 (s0 pw1 1.06×).
var GEMMLaneHoist = true

// GEMMLaneLN4 runs GEMMLaneLN's pass on layernorm_lane.wgsl (4 pixels per invocation, vec4
// loads and stores) where HW % 4 == 0, instead of layernorm.wgsl. Interleaved on lavapipe
// (-ab laneln4, -reps 10): pw1 s0 1.03×, s1 1.14×, s2 1.01×.
var GEMMLaneLN4 = true

// gemmLaneForce, when true, takes matmul_lane.wgsl on any adapter (tests).
var gemmLaneForce = false

// GEMMLaneR and GEMMLanePB, when not 0, override matmul_lane.wgsl's rows and 4-pixel groups per
// invocation (tests, tools/bench -lane-r, -lane-pb).
var GEMMLaneR, GEMMLanePB = 0, 0

// gemmLaneAdapter reports whether adapter is llvmpipe (lavapipe), where matmul_lane.wgsl was
// measured to win. SwiftShader is in dwFast2WG's 8-invocation class too but is not measured
// with matmul_lane.wgsl yet (and has subgroups: the tuner may pick matmul_sg.wgsl there), so it
// keeps matmul_fast_v4.wgsl, like real GPUs (64-invocation workgroups).
func gemmLaneAdapter(adapter string) bool {
	a := strings.ToLower(adapter)
	return strings.Contains(a, "llvmpipe") || strings.Contains(a, "lavapipe")
}

// gemmLane picks matmul_lane.wgsl's block for p (R rows × PB vec4 pixel groups per invocation)
// and reports whether it is used. R = 16; PB (pixels per workgroup 32·PB) the one of 8, 7, 4 with
// the fewest padded pixels where HW > 64 (SLaK-T at 224²: 7 for 3136, 784, 196 pixels: 224 = 4·56
// tiles 56-wide planes); where HW ≤ 64 all the plane's groups of 4 pixels over laneNP
// invocations (HW 49: 2 × 7, 56 pixels; before laneNP: 8 × 2, 64 pixels).
// With the GEMMLaneFlat/KInner loaders (-ab laneblock, -reps 10, s0 pw1/pw2 against 16×7): 24×7
// 1.06/0.98, 32×4 0.95/0.98, 16×8 0.98/1.07, 12×8 0.87/0.85 — 16×7 kept. Before them
// (-ab laneblock): 16×7 against 16×8 1.16/1.08 (s0 pw1/pw2), 1.24/1.20
// (s1), 1.12/1.12 (s2); 16×8 against 16×4 1.01/1.04 (s0), 1.20/0.97
// (s1), 1.07/0.99 (s2), 0.52/0.55 (s3, HW 49); 16×8 against 24×8 2.0–3.3× (R = 24 spills
// past what llvmpipe keeps cheap), against 16×12 1.08–1.58×; R = 32, PB = 1 0.48–0.72× of
// matmul_fast_v4; R = 8 (PB 2, 4, 8) gained 1.00–1.20× on s0 pw2 over matmul_fast_v4 where
// R = 16 gained 1.21–1.68×.
//
// Only fused pointwise layers (LN+GELU, scale+residual: fused) take it, as measured: plain Linear
// (RepLKNet's 1×1 convs, EPI 0) ran the RepLKNet-31B forward at 0.59× matmul_fast_v4 on lavapipe
// (-filter forward_replknet -forward-reps 3 -ab lane). gemmLaneForce (tests) takes every layer.
func (b *Backend) gemmLane(p op.Linear, fused bool) (r, pb int, ok bool) {
	if !GEMMLane || !(gemmLaneForce || (fused && gemmLaneAdapter(b.info.Name))) {
		return 0, 0, false
	}
	r, pb = 16, 2
	if p.HW > 64 { // the fewest padded pixels, ties to the wider block
		for _, c := range []int{8, 7, 4} {
			if pb == 2 || ceilDiv(p.HW, 32*c)*32*c < ceilDiv(p.HW, 32*pb)*32*pb {
				pb = c
			}
		}
	} else if laneNP(p.HW) < laneNI { // all groups of 4 pixels in one workgroup
		pb = min(8, ceilDiv(ceilDiv(p.HW, 4), laneNP(p.HW)))
	}
	if GEMMLaneR != 0 {
		r = GEMMLaneR
	}
	if GEMMLanePB != 0 {
		pb = GEMMLanePB
	}
	return r, pb, true
}

// GEMMLaneFlat reads W and x in matmul_lane.wgsl with ldwl/ldxl (no control flow around the
// loads) instead of ldwr/ldxn. Interleaved on lavapipe (-ab laneflat, -reps 10, with the others
// on): pw1/pw2 s0 1.09/1.12×, s1 1.14/1.12×, s2 1.21/1.12×, s3 1.11/1.06× (earlier runs under
// heavier load: 0.80–1.35×).
var GEMMLaneFlat = true

// GEMMLaneKInner orders matmul_lane.wgsl's FMAs accumulator by accumulator (the 4 k of a step in
// a row) instead of k by k: the spilled accumulators (4·R·PB ymm registers, 448 for 16×7) are
// loaded and stored once per 4 FMAs instead of once per FMA (llvmpipe has no fused FMA here:
// mul + add). Interleaved (-ab lanekinner, -reps 10): 1.28–1.40× on pw1/pw2 of stages 0–3
// (earlier noisier runs 0.93–1.55×).
var GEMMLaneKInner = true

// GEMMLaneWR binds W as vec4 in matmul_lane.wgsl where In % 4 ≠ 0 but Out·In % 4 = 0 and reads its
// rows through realign4 (laneBodyW), one vec4 load per row and 4 k instead of 4 scalar loads.
// Interleaved (-ab lanewr, -reps 8): pw1 s1 (In 249) 1.03×, s2 (499) 1.10×, s3 (998) 1.27×.
var GEMMLaneWR = true

// GEMMLaneNP, when not 0, overrides laneNP (tools/bench -ab lanenp).
var GEMMLaneNP = 0

// laneNP is how many of matmul_lane.wgsl's invocations sit side by side along the pixels (the
// other laneNI/laneNP along the rows): 8 where HW > 64, else 2 (HW = 49: 2 × 7 groups of 4
// pixels cover 56 of them, each invocation 16 rows × 28 pixels as on the large planes, where
// 8 × 2 groups covered 64 with 16 × 8 pixels per invocation: 3.5 FMAs per loaded W element
// instead of 8). Interleaved (-ab lanenp, -reps 8): s3 pw1 1.64×, pw2 1.38×, downsample 3
// (space_to_depth + matmul_lane, HW 49) 1.11×.
func laneNP(hw int) int {
	if GEMMLaneNP != 0 {
		return GEMMLaneNP
	}
	if hw <= 64 {
		return 2
	}
	return laneNI
}

// laneNI is matmul_lane.wgsl's workgroup size: one llvmpipe SIMD batch.
const laneNI = 8

// laneBody generates matmul_lane.wgsl's DECL, STEP and STORE for r rows × pb pixel groups:
// named accumulators c<r>_<j>, the W row vectors w<r> of a 4-k step, and per k the x vectors
// x<j>; the FMAs run k ascending for every output, the same order whatever W's binding type.
func laneBody(r, pb int) (decl, step, store string) { return laneBodyW(r, pb, false) }

// laneBodyW is laneBody; wr: W's rows are read through realign4 from W bound as vec4 (In % 4 ≠ 0,
// Out·In % 4 = 0), each row's previous aligned vec4 kept across steps (needs GEMMLaneFlat).
func laneBodyW(r, pb int, wr bool) (decl, step, store string) {
	var d, s, o strings.Builder
	for j := 0; j < pb; j++ {
		fmt.Fprintf(&d, "  let q%d = qb + %du * 4u * NP;\n", j, j)
		fmt.Fprintf(&d, "  var m%d = vec4<f32>(); var s%d = vec4<f32>(1.0);\n", j, j)
		fmt.Fprintf(&d, "  if (LN) { m%d = stats4(0u, q%d); s%d = stats4(1u, q%d); }\n", j, j, j, j)
		for i := 0; i < r; i++ {
			fmt.Fprintf(&d, "  var c%d_%d = vec4<f32>();\n", i, j)
			if GEMMLaneHoist {
				if j == 0 {
					fmt.Fprintf(&o, "  let bg%d = rowc(o0 + %du);\n", i, i)
				}
				fmt.Fprintf(&o, "  store4l(o0 + %du, q%d, c%d_%d, bg%d);\n", i, j, i, j, i)
				continue
			}
			fmt.Fprintf(&o, "  store4(o0 + %du, q%d, c%d_%d);\n", i, j, i, j)
		}
	}
	ldw, ldx := "ldwr", "ldxn"
	if GEMMLaneFlat {
		ldw, ldx = "ldwl", "ldxl"
	}
	for i := 0; i < r; i++ {
		if wr {
			fmt.Fprintf(&d, "  let wa%d = (min(o0 + %du, p.out - 1u) * p.inp) / 4u;\n", i, i)
			fmt.Fprintf(&d, "  let ws%d = (min(o0 + %du, p.out - 1u) * p.inp) %% 4u;\n", i, i)
			fmt.Fprintf(&d, "  var wp%d = ldwa(wa%d);\n", i, i)
			fmt.Fprintf(&s, "    let wn%d = ldwa(wa%d + k / 4u + 1u);\n", i, i)
			fmt.Fprintf(&s, "    let w%d = wmask(o0 + %du, k, realign4(wp%d, wn%d, ws%d));\n", i, i, i, i, i)
			fmt.Fprintf(&s, "    wp%d = wn%d;\n", i, i)
			continue
		}
		fmt.Fprintf(&s, "    let w%d = %s(o0 + %du, k);\n", i, ldw, i)
	}
	if GEMMLaneKInner { // all x first, then every accumulator's 4 FMAs in a row
		for kk := 0; kk < 4; kk++ {
			for j := 0; j < pb; j++ {
				fmt.Fprintf(&s, "    let x%d_%d = %s(k + %du, q%d, m%d, s%d);\n", kk, j, ldx, kk, j, j, j)
			}
		}
		for i := 0; i < r; i++ {
			for j := 0; j < pb; j++ {
				for kk := 0; kk < 4; kk++ {
					fmt.Fprintf(&s, "    c%d_%d = fma(vec4<f32>(w%d[%d]), x%d_%d, c%d_%d);\n", i, j, i, kk, kk, j, i, j)
				}
			}
		}
		return d.String(), s.String(), o.String()
	}
	for kk := 0; kk < 4; kk++ {
		for j := 0; j < pb; j++ {
			fmt.Fprintf(&s, "    let x%d_%d = %s(k + %du, q%d, m%d, s%d);\n", kk, j, ldx, kk, j, j, j)
		}
		for i := 0; i < r; i++ {
			for j := 0; j < pb; j++ {
				fmt.Fprintf(&s, "    c%d_%d = fma(vec4<f32>(w%d[%d]), x%d_%d, c%d_%d);\n", i, j, i, kk, kk, j, i, j)
			}
		}
	}
	return d.String(), s.String(), o.String()
}

// matmulLane records matmul_lane.wgsl (matmulFastV4's GEMM in 8-invocation workgroups without
// workgroup memory; r rows × pb vec4 pixel groups per invocation).
func (b *Backend) matmulLane(opName string, xt, wt, bt *Tensor, ln []*Tensor, res []*Tensor, epi int, p op.Linear, r, pb int) (*Tensor, error) {
	xv, wv := p.HW%4 == 0, p.In%4 == 0
	wr := !wv && GEMMLaneFlat && GEMMLaneWR && p.Out*p.In%4 == 0 // W bound as vec4, rows realigned
	wt0 := wt
	wt, subst, err := b.halfW(opName, wt, "wm", wv || wr)
	if err != nil {
		return nil, err
	}
	subst["LN"], subst["EPI"] = strconv.FormatBool(ln != nil), strconv.Itoa(epi)
	np := laneNP(p.HW)
	subst["NI"], subst["R"], subst["PB"], subst["NP"] = strconv.Itoa(laneNI), strconv.Itoa(r), strconv.Itoa(pb), strconv.Itoa(np)
	subst["DECL"], subst["STEP"], subst["STORE"] = laneBodyW(r, pb, wr)
	gemmAccess(subst, xv, wv || wr)
	prm := matmulFastParams{Inp: u(p.In), Out: u(p.Out), HW: u(p.HW), HasBias: b2u(bt != nil)}
	grid := [3]uint32{u(ceilDiv(p.HW, 4*np*pb)), u(ceilDiv(p.Out, r*laneNI/np)), 1}
	y, retry, err := b.runHalf(opName, "matmul_lane", subst, prm, gemmArgs(xt, wt, bt, ln, res), grid, p.Out, p.HW)
	if retry { // the device rejected `enable f16;`: again with the u32 words
		return b.matmulLane(opName, xt, wt0, bt, ln, res, epi, p, r, pb)
	}
	return y, err
}

// linearArgs checks Linear's tensors.
func (b *Backend) linearArgs(name string, x, w, bias op.Tensor, p op.Linear) (xt, wt, bt *Tensor, err error) {
	if err = p.Validate(); err != nil {
		return
	}
	if xt, err = b.arg(name, "x", x, p.In*p.HW); err != nil {
		return
	}
	if wt, err = b.argHalf(name, "w", w, p.Out*p.In); err != nil { // a half W is read as it is
		return
	}
	if p.Bias {
		bt, err = b.arg(name, "b", bias, p.Out)
	}
	return
}

// LNLinearGELU implements op.Fused (pw1): y = GELU(W · LayerNorm(x; γ, β) + b), with per-pixel
// statistics from fused_lnstats.wgsl applied in matmul_fast.wgsl's loader and GELU in its epilogue.
func (b *Backend) LNLinearGELU(x, gamma, beta, w, bias op.Tensor, ln op.LayerNorm, lin op.Linear) (op.Tensor, error) {
	const name = "lnlineargelu"
	if err := ln.Validate(); err != nil {
		return nil, err
	}
	if ln.C != lin.In || ln.HW != lin.HW {
		return nil, fmt.Errorf("%s: %w: layernorm [%d, %d] does not match linear In %d, HW %d", name, op.ErrShape, ln.C, ln.HW, lin.In, lin.HW)
	}
	if b.Direct {
		h, err := b.LayerNorm(x, gamma, beta, ln)
		if err != nil {
			return nil, err
		}
		defer b.Free(h)
		v, err := b.Linear(h, w, bias, lin)
		if err != nil {
			return nil, err
		}
		defer b.Free(v)
		return b.GELU(v, op.Elementwise{N: lin.Out * lin.HW})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	xt, wt, bt, err := b.linearArgs(name, x, w, bias, lin)
	if err != nil {
		return nil, err
	}
	gt, err := b.arg(name, "gamma", gamma, ln.C)
	if err != nil {
		return nil, err
	}
	betat, err := b.arg(name, "beta", beta, ln.C)
	if err != nil {
		return nil, err
	}
	sgv, sg := b.useSG(lin, true, 1)
	if sg && sgv.lnPass { // the tuner's subgroup variant that reads x̂ from a LayerNorm pass
		xn, err := b.lnPass(name, xt, gt, betat, ln)
		if err != nil {
			return nil, err
		}
		if y, ok, err := b.matmulSG(name, xn, wt, bt, nil, nil, 1, lin, sgv); ok {
			return y, err
		}
		sg = false // the device rejected matmul_sg.wgsl: the static path below
	}
	if r, pb, ok := b.gemmLane(lin, true); ok && GEMMLaneLN && GEMMVec4 && !sg {
		// matmul_lane.wgsl normalises nothing: each x element would be normalised once per R
		// rows (γ, β loads per k in every invocation); layernorm.wgsl does it once, then the GEMM
		// reads x̂ (GEMMLaneLN).
		xn, err := b.lnPass(name, xt, gt, betat, ln)
		if err != nil {
			return nil, err
		}
		return b.matmulLane(name, xn, wt, bt, nil, nil, 1, lin, r, pb)
	}
	stats, err := b.run(name, "fused_lnstats", nil, lnStatsParams{C: u(ln.C), HW: u(ln.HW), Eps: ln.Eps}, []*Tensor{xt}, [3]uint32{u(ceilDiv(ln.HW, 64)), 1, 1}, 2, ln.HW)
	if err != nil {
		return nil, err
	}
	defer func() { b.deferred = append(b.deferred, func() { b.destroy(stats) }) }()
	return b.matmulFast(name, xt, wt, bt, []*Tensor{stats, gt, betat}, nil, 1, lin)
}

// lnPass records x̂ = LayerNorm(x)·γ + β as its own pass (layernorm_lane.wgsl, 4 pixels per
// invocation, when HW % 4 == 0 and GEMMLaneLN4; else layernorm.wgsl) for a GEMM that reads x̂;
// x̂ is freed after the next flush.
func (b *Backend) lnPass(name string, xt, gt, betat *Tensor, ln op.LayerNorm) (*Tensor, error) {
	kernel, grid := "layernorm", b.grid1D(ln.HW, 256)
	if GEMMLaneLN4 && ln.HW%4 == 0 {
		kernel, grid = "layernorm_lane", b.grid1D(ln.HW/4, 8)
	}
	xn, err := b.run(name, kernel, nil, normParams{u(ln.C), u(ln.HW), ln.Eps}, []*Tensor{xt, gt, betat}, grid, ln.C, ln.HW)
	if err != nil {
		return nil, err
	}
	b.deferred = append(b.deferred, func() { b.destroy(xn) })
	return xn, nil
}

// LinearScaleResidual implements op.Fused (pw2): y[c,p] = x[c,p] + γ[c]·(Σ_i W[c,i] h[i,p] + b[c]),
// layer scale and residual in matmul_fast.wgsl's epilogue.
func (b *Backend) LinearScaleResidual(h, w, bias, gamma, x op.Tensor, lin op.Linear) (op.Tensor, error) {
	const name = "linearscaleresidual"
	if b.Direct {
		v, err := b.Linear(h, w, bias, lin)
		if err != nil {
			return nil, err
		}
		defer b.Free(v)
		return b.ScaleResidual(x, v, gamma, op.ScaleResidual{C: lin.Out, HW: lin.HW})
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	ht, wt, bt, err := b.linearArgs(name, h, w, bias, lin)
	if err != nil {
		return nil, err
	}
	gt, err := b.arg(name, "gamma", gamma, lin.Out)
	if err != nil {
		return nil, err
	}
	xt, err := b.arg(name, "x", x, lin.Out*lin.HW)
	if err != nil {
		return nil, err
	}
	return b.matmulFast(name, ht, wt, bt, nil, []*Tensor{xt, gt}, 2, lin)
}

// DWConvSum implements op.Fused: y = Σ_k DWConv(x; ws[k], ps[k]) + bias in one pass of
// dwconv_fast.wgsl when it takes the shapes, else by composition of the direct kernels.
func (b *Backend) DWConvSum(x op.Tensor, ws []op.Tensor, bias op.Tensor, ps []op.DWConv) (op.Tensor, error) {
	const name = "dwconvsum"
	if len(ps) == 0 || len(ws) != len(ps) {
		return nil, fmt.Errorf("%s: %w: %d weights for %d branches", name, op.ErrShape, len(ws), len(ps))
	}
	p0 := ps[0]
	for k, p := range ps {
		if err := p.Validate(); err != nil {
			return nil, err
		}
		if p.Bias {
			return nil, fmt.Errorf("%s: %w: branch %d has Bias set; pass the summed bias instead", name, op.ErrShape, k)
		}
		if p.C != p0.C || p.H != p0.H || p.W != p0.W || p.OutH() != p0.OutH() || p.OutW() != p0.OutW() {
			return nil, fmt.Errorf("%s: %w: branch %d maps [%d,%d,%d] to %dx%d, branch 0 [%d,%d,%d] to %dx%d", name, op.ErrShape,
				k, p.C, p.H, p.W, p.OutH(), p.OutW(), p0.C, p0.H, p0.W, p0.OutH(), p0.OutW())
		}
	}
	if !b.Direct {
		if pl, ok := planDWFast(ps, bias != nil); ok && b.dwFastWorth(pl, ps) {
			b.mu.Lock()
			defer b.mu.Unlock()
			xt, err := b.arg(name, "x", x, p0.C*p0.H*p0.W)
			if err != nil {
				return nil, err
			}
			wts := make([]*Tensor, len(ps))
			for k, p := range ps {
				if wts[k], err = b.arg(name, fmt.Sprintf("ws[%d]", k), ws[k], p.C*p.KH*p.KW); err != nil {
					return nil, err
				}
			}
			var bt *Tensor
			if bias != nil {
				if bt, err = b.arg(name, "bias", bias, p0.C); err != nil {
					return nil, err
				}
			}
			y, _, err := b.dwFast(name, xt, wts, bt, ps)
			return y, err
		}
	}
	// composition: y = DWConv(x; ws[0], bias) + Σ_{k≥1} DWConv(x; ws[k])
	q := ps[0]
	q.Bias = bias != nil
	y, err := b.DWConv(x, ws[0], bias, q)
	if err != nil {
		return nil, err
	}
	n := p0.C * p0.OutH() * p0.OutW()
	for k := 1; k < len(ps); k++ {
		t, err := b.DWConv(x, ws[k], nil, ps[k])
		if err != nil {
			b.Free(y)
			return nil, err
		}
		s, err := b.Add(y, t, op.Elementwise{N: n})
		b.Free(t)
		b.Free(y)
		if err != nil {
			return nil, err
		}
		y = s
	}
	return y, nil
}

// dwconvFastLocked is DWConv's fast path (b.mu held): a single stride-1 branch through
// dwconv_fast.wgsl. ok is false when the direct kernel must run.
func (b *Backend) dwconvFastLocked(xt, wt, bt *Tensor, p op.DWConv) (y *Tensor, ok bool, err error) {
	if b.Direct {
		return nil, false, nil
	}
	q := p
	q.Bias = false
	return b.dwFast("dwconv", xt, []*Tensor{wt}, bt, []op.DWConv{q})
}

// conv2dFastLocked is Conv2D's fast path (b.mu held): the convolution as a GEMM over im2col
// columns read in matmul_fast.wgsl's loader (PATCH), W [Cout, Cin·KH·KW] as stored. Used for the
// patchify layers (stem 4×4/4, downsample 2×2/2) and any other forward convolution.
func (b *Backend) conv2dFastLocked(xt, wt, bt *Tensor, p op.Conv2D) (y *Tensor, ok bool, err error) {
	if b.Direct {
		return nil, false, nil
	}
	lin := op.Linear{In: p.Cin * p.KH * p.KW, Out: p.Cout, HW: p.OutH() * p.OutW(), Bias: p.Bias}
	if ceilDiv(lin.HW, 64) > int(b.maxGroups()) || ceilDiv(lin.Out, 64) > int(b.maxGroups()) {
		return nil, false, nil
	}
	if y, ok, err := b.convS2D(xt, wt, bt, p, lin); ok { // s2d.go
		return y, true, err
	}
	y, err = b.matmulFastConv("conv2d", xt, wt, bt, nil, nil, 0, lin, &p)
	return y, true, err
}

// linearFastLocked is Linear's fast path (b.mu held): matmul_fast.wgsl without prologue or
// epilogue. ok is false when the direct kernel must run.
func (b *Backend) linearFastLocked(xt, wt, bt *Tensor, p op.Linear) (y *Tensor, ok bool, err error) {
	if b.Direct {
		return nil, false, nil
	}
	if ceilDiv(p.HW, 64) > int(b.maxGroups()) || ceilDiv(p.Out, 64) > int(b.maxGroups()) {
		return nil, false, nil
	}
	y, err = b.matmulFast("linear", xt, wt, bt, nil, nil, 0, p)
	return y, true, err
}

// FMAPeak records one dispatch of wgsl/fmapeak.wgsl: groups workgroups of 64 invocations, each
// running 16 independent FMA chains of iters steps (FMAPeakFLOPs(groups, iters) FLOPs). The result
// tensor [groups·64] holds one finite sum per invocation; the caller times a Flush around it.
func (b *Backend) FMAPeak(groups, iters int) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "fmapeak"
	if err := b.alive(name); err != nil {
		return nil, err
	}
	if groups <= 0 || iters <= 0 || groups > int(b.maxGroups()) {
		return nil, fmt.Errorf("%s: %w: %d groups × %d iterations", name, op.ErrShape, groups, iters)
	}
	prm := fmaPeakParams{M: 0.999, C: 1e-3, N: u(groups * 64)}
	return b.run(name, "fmapeak", map[string]string{"ITERS": strconv.Itoa(iters)}, prm, nil, [3]uint32{u(groups), 1, 1}, groups*64)
}
