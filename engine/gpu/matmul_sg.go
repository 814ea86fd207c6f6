package gpu

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/slak-web/slak/engine/op"
)

// GEMMSubgroups, a name from SubgroupVariants, forces the pointwise GEMMs (not the im2col
// convolutions) onto that configuration of wgsl/matmul_sg.wgsl on devices with the subgroups
// feature, whatever the tuner chose (tests: the browser conformance run). "": matmul_sg.wgsl
// runs only where Backend.Tune measured it faster.
var GEMMSubgroups = ""

// SubgroupVariants names the tuner's configurations of matmul_sg.wgsl, sorted.
func SubgroupVariants() []string {
	var n []string
	for k := range sgVariants {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

func init() { kernels["matmul_sg"] = kernel{6, matmulFastParams{}} }

// SubgroupGEMMStatus says whether this device can run matmul_sg.wgsl (the subgroups feature,
// and no compile failure so far), and why not.
func (b *Backend) SubgroupGEMMStatus() (bool, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sgGEMMTakes(op.Linear{In: 1, Out: 1, HW: 1}, sgVariants[TuneSubgroup])
}

// SubgroupGEMMRuns counts the dispatches of matmul_sg.wgsl on this backend.
func (b *Backend) SubgroupGEMMRuns() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sgRuns
}

// sgGEMMTakes reports whether matmul_sg.wgsl can run p on this device, and why not.
func (b *Backend) sgGEMMTakes(p op.Linear, v sgVariant) (bool, string) {
	switch {
	case !slices.Contains(b.info.Features, "subgroups"):
		return false, "the device has no subgroups feature"
	case b.sgErr != "":
		return false, "matmul_sg.wgsl failed on this device: " + b.sgErr
	case b.sgWrong[v] != "":
		return false, "this configuration of matmul_sg.wgsl disagreed with the static GEMM on this device: " + b.sgWrong[v]
	case ceilDiv(ceilDiv(p.HW, 4*v.pg), sgWGS(p.HW, v.pg)) > int(b.maxGroups()) || ceilDiv(p.Out, v.rows) > int(b.maxGroups()):
		return false, "too many workgroups"
	}
	return true, ""
}

// sgVariant is one configuration of matmul_sg.wgsl the tuner can choose: rows per invocation
// (RB, a multiple of 4: each lane of a group of 4 holds the W vec4 of RB/4 rows and broadcasts it),
// groups of 4 pixels per invocation (PG: every broadcast W value feeds 4·PG pixels, which is
// what pays on SwiftShader, where a subgroupBroadcast costs several instructions per component),
// and where pw1's LayerNorm runs (lnPass: a layernorm_lane.wgsl pass before the GEMM, which then
// reads x̂; else in the GEMM's loader, which takes one pixel group only).
type sgVariant struct {
	rows   int
	pg     int
	lnPass bool
}

// The subgroup candidates by tuner name. In-browser A/B on SwiftShader (2 cores, SLaK-T 224²,
// medians): stage-0 pw1 315 ms static GEMM, 181 subgroups, 124 subgroups_p16_lnpass, 117
// subgroups_r32p8_lnpass; pw2 143 subgroups, 115 p16, 101 r32p8; stages 1–2 prefer p16,
// stage 3 r32p8. 32 rows × 16 pixels or 16 rows × 32 pixels (128 vec4 accumulators) ran past
// the 9-minute page budget there and are not candidates.
var sgVariants = map[string]sgVariant{
	TuneSubgroup:        {16, 1, false},
	TuneSubgroupP16:     {16, 4, false},
	TuneSubgroupP16LN:   {16, 4, true},
	TuneSubgroupR32P8:   {32, 2, false},
	TuneSubgroupR32P8LN: {32, 2, true},
}

// sgCandidates lists the subgroup candidates of a configuration (the LayerNorm-pass ones only
// where there is a LayerNorm), in a fixed order.
func sgCandidates(ln bool) []string {
	if ln {
		return []string{TuneSubgroup, TuneSubgroupP16LN, TuneSubgroupR32P8LN}
	}
	return []string{TuneSubgroup, TuneSubgroupP16, TuneSubgroupR32P8}
}

// useSG is the dispatch-time choice of matmul_sg.wgsl for a pointwise GEMM (b.mu held): which
// variant, ok false for the static GEMM.
func (b *Backend) useSG(p op.Linear, ln bool, epi int) (sgVariant, bool) {
	c := GEMMSubgroups
	if c == "" {
		c, _ = b.tunedChoice(true, mmTuneKey(p, ln, epi))
	}
	v, ok := sgVariants[c]
	if !ok {
		return sgVariant{}, false
	}
	// the LayerNorm pass only where there is a LayerNorm; always with PG > 1 (the loader's
	// LayerNorm takes one pixel group)
	v.lnPass = ln && (v.lnPass || v.pg != 1)
	if ok, _ := b.sgGEMMTakes(p, v); !ok {
		return sgVariant{}, false
	}
	return v, true
}

// matmulSGSubst returns matmul_sg.wgsl's substitutions for p and the W tensor to bind (halfW).
func (b *Backend) matmulSGSubst(opName string, wt *Tensor, p op.Linear, ln bool, epi int, v sgVariant) (*Tensor, map[string]string, error) {
	xv, wv := p.HW%4 == 0, p.In%4 == 0
	wt, subst, err := b.halfW(opName, wt, "wm", wv)
	if err != nil {
		return nil, nil, err
	}
	subst["LN"], subst["EPI"], subst["WGS"] = strconv.FormatBool(ln), strconv.Itoa(epi), strconv.Itoa(sgWGS(p.HW, v.pg))
	gemmAccess(subst, xv, wv)
	for k, s := range sgRowsSubst(v.rows, v.pg) {
		subst[k] = s
	}
	return wt, subst, nil
}

// sgRowsSubst generates matmul_sg.wgsl's block of rows (a multiple of 4) × pg groups of 4
// pixels per invocation: accumulators c<r>_<g>; per 4 k the x vec4s x<i>_<g> (k + i, pixels
// q + 4g ..), the lane's W vec4 w<j> of row o0 + 4j + s (j < rows/4), and for each row
// 4j + t lane t's share broadcast once and used by every pixel group; then the stores. The
// LayerNorm prologue's mean and rstd are those of the first pixel group (pg = 1 with LN).
func sgRowsSubst(rows, pg int) map[string]string {
	var acc, ldx, mac, st strings.Builder
	for r := 0; r < rows; r++ {
		for g := 0; g < pg; g++ {
			fmt.Fprintf(&acc, "  var c%d_%d = vec4<f32>();\n", r, g)
			fmt.Fprintf(&st, "  store4(o0 + %du, q + %du, c%d_%d);\n", r, 4*g, r, g)
		}
	}
	for g := 0; g < pg; g++ {
		for i := 0; i < 4; i++ {
			fmt.Fprintf(&ldx, "    let x%d_%d = ldx(k + %du, q + %du, mean, rstd);\n", i, g, i, 4*g)
		}
	}
	for j := 0; j < rows/4; j++ {
		fmt.Fprintf(&mac, "    let w%d = ldw(o0 + %du + s, k);\n", j, 4*j)
		for t := 0; t < 4; t++ {
			r := 4*j + t
			fmt.Fprintf(&mac, "    let a%d = subgroupBroadcast(w%d, %du);\n", r, j, t)
			for g := 0; g < pg; g++ {
				fmt.Fprintf(&mac, "    c%d_%d = mac(c%d_%d, a%d, x0_%d, x1_%d, x2_%d, x3_%d);\n", r, g, r, g, r, g, g, g, g)
			}
		}
	}
	trim := func(b *strings.Builder) string { return strings.TrimRight(b.String(), "\n") }
	return map[string]string{"RB": strconv.Itoa(rows), "PG": strconv.Itoa(pg), "ACC": trim(&acc), "LDX": trim(&ldx),
		"MAC": trim(&mac), "STORE": trim(&st)}
}

// sgWGS is matmul_sg.wgsl's workgroup size for HW pixels: 64 invocations of pg groups of 4
// pixels, or the power of two ≥ 4 that covers ⌈HW/(4·pg)⌉ when that is smaller (SLaK-T stage 3:
// HW = 49, pg = 1 → 16).
func sgWGS(hw, pg int) int {
	n, w := ceilDiv(hw, 4*pg), 4
	for w < n && w < 64 {
		w *= 2
	}
	return w
}

// matmulSG records matmul_sg.wgsl (matmulFast's formula with W shared by subgroupBroadcast).
// ok is false when the device rejected the shader (recorded in b.sgErr; the caller runs the
// static GEMM instead).
func (b *Backend) matmulSG(opName string, xt, wt, bt *Tensor, ln []*Tensor, res []*Tensor, epi int, p op.Linear, v sgVariant) (y *Tensor, ok bool, err error) {
	wt0 := wt
	wt, subst, err := b.matmulSGSubst(opName, wt, p, ln != nil, epi, v)
	if err != nil {
		return nil, true, err
	}
	wgs := sgWGS(p.HW, v.pg)
	prm := matmulFastParams{Inp: u(p.In), Out: u(p.Out), HW: u(p.HW), HasBias: b2u(bt != nil)}
	grid := [3]uint32{u(ceilDiv(ceilDiv(p.HW, 4*v.pg), wgs)), u(ceilDiv(p.Out, v.rows)), 1}
	y, err = b.run(opName, "matmul_sg", subst, prm, gemmArgs(xt, wt, bt, ln, res), grid, p.Out, p.HW)
	if err != nil && strings.Contains(err.Error(), "shader matmul_sg:") {
		if subst["ENABLE"] != "" { // maybe the f16 directive: let runHalf's rule switch f16 off, retry once
			b.f16Err = err.Error()
			return b.matmulSG(opName, xt, wt0, bt, ln, res, epi, p, v)
		}
		b.sgErr = err.Error()
		return nil, false, nil
	}
	if err == nil {
		b.sgRuns++
	}
	return y, true, err
}

// SubgroupChoice reports whether the tuner's choice c runs matmul_sg.wgsl (any of its variants).
func SubgroupChoice(c string) bool {
	_, ok := sgVariants[c]
	return ok
}
