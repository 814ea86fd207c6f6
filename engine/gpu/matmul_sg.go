package gpu

import (
	"slices"
	"strconv"
	"strings"

	"github.com/slak-web/slak/engine/op"
)

// GEMMSubgroups forces the pointwise GEMMs (not the im2col convolutions) onto
// wgsl/matmul_sg.wgsl on devices with the subgroups feature, whatever the tuner chose (tests: the
// browser conformance run). Off: matmul_sg.wgsl runs only where Backend.Tune measured it faster.
var GEMMSubgroups = false

func init() { kernels["matmul_sg"] = kernel{6, matmulFastParams{}} }

// sgErrs records, per backend, why matmul_sg.wgsl is not used after the device rejected it;
// sgRuns counts its dispatches (tests check the variant really ran).
var (
	sgErrs = map[*Backend]string{}
	sgRuns = map[*Backend]int{}
)

// SubgroupGEMMStatus says whether this device can run matmul_sg.wgsl (the subgroups feature,
// and no compile failure so far), and why not.
func (b *Backend) SubgroupGEMMStatus() (bool, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sgGEMMTakes(op.Linear{In: 1, Out: 1, HW: 1})
}

// SubgroupGEMMRuns counts the dispatches of matmul_sg.wgsl on this backend.
func (b *Backend) SubgroupGEMMRuns() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return sgRuns[b]
}

// sgGEMMTakes reports whether matmul_sg.wgsl can run p on this device, and why not.
func (b *Backend) sgGEMMTakes(p op.Linear) (bool, string) {
	switch {
	case !slices.Contains(b.info.Features, "subgroups"):
		return false, "the device has no subgroups feature"
	case sgErrs[b] != "":
		return false, "matmul_sg.wgsl failed on this device: " + sgErrs[b]
	case ceilDiv(ceilDiv(p.HW, 4), 64) > int(b.maxGroups()) || ceilDiv(p.Out, 16) > int(b.maxGroups()):
		return false, "too many workgroups"
	}
	return true, ""
}

// useSG is the dispatch-time choice of matmul_sg.wgsl for a pointwise GEMM (b.mu held).
func (b *Backend) useSG(p op.Linear, ln bool, epi int) bool {
	if !GEMMSubgroups {
		if c, ok := b.tunedChoice(true, mmTuneKey(p, ln, epi)); !ok || c != TuneSubgroup {
			return false
		}
	}
	ok, _ := b.sgGEMMTakes(p)
	return ok
}

// matmulSGSubst returns matmul_sg.wgsl's substitutions for p and the W tensor to bind (halfW).
func (b *Backend) matmulSGSubst(opName string, wt *Tensor, p op.Linear, ln bool, epi int) (*Tensor, map[string]string, error) {
	xv, wv := p.HW%4 == 0, p.In%4 == 0
	wt, subst, err := b.halfW(opName, wt, "wm", wv)
	if err != nil {
		return nil, nil, err
	}
	subst["LN"], subst["EPI"], subst["WGS"] = strconv.FormatBool(ln), strconv.Itoa(epi), strconv.Itoa(sgWGS(p.HW))
	gemmAccess(subst, xv, wv)
	return wt, subst, nil
}

// sgWGS is matmul_sg.wgsl's workgroup size for HW pixels: 64 invocations of 4 pixels, or the
// power of two ≥ 4 that covers ⌈HW/4⌉ when that is smaller (SLaK-T stage 3: HW = 49 → 16).
func sgWGS(hw int) int {
	n, w := ceilDiv(hw, 4), 4
	for w < n && w < 64 {
		w *= 2
	}
	return w
}

// matmulSG records matmul_sg.wgsl (matmulFast's formula with W shared by subgroupBroadcast).
// ok is false when the device rejected the shader (recorded in sgErrs; the caller runs the
// static GEMM instead).
func (b *Backend) matmulSG(opName string, xt, wt, bt *Tensor, ln []*Tensor, res []*Tensor, epi int, p op.Linear) (y *Tensor, ok bool, err error) {
	wt0 := wt
	wt, subst, err := b.matmulSGSubst(opName, wt, p, ln != nil, epi)
	if err != nil {
		return nil, true, err
	}
	wgs := sgWGS(p.HW)
	prm := matmulFastParams{Inp: u(p.In), Out: u(p.Out), HW: u(p.HW), HasBias: b2u(bt != nil)}
	grid := [3]uint32{u(ceilDiv(ceilDiv(p.HW, 4), wgs)), u(ceilDiv(p.Out, 16)), 1}
	y, err = b.run(opName, "matmul_sg", subst, prm, gemmArgs(xt, wt, bt, ln, res), grid, p.Out, p.HW)
	if err != nil && strings.Contains(err.Error(), "shader matmul_sg:") {
		if subst["ENABLE"] != "" { // maybe the f16 directive: let runHalf's rule switch f16 off, retry once
			b.f16Err = err.Error()
			return b.matmulSG(opName, xt, wt0, bt, ln, res, epi, p)
		}
		sgErrs[b] = err.Error()
		return nil, false, nil
	}
	if err == nil {
		sgRuns[b]++
	}
	return y, true, err
}
