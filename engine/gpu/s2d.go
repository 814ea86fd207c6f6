package gpu

import "github.com/slak-web/slak/engine/op"

// ConvS2D runs the patchify convolutions (kernel = stride, no padding: the stem and the
// downsamples of SLaK, ConvNeXt) as wgsl/space_to_depth.wgsl (the im2col matrix, written once)
// followed by the plain GEMM of matmul_lane.wgsl, where matmul_lane.wgsl is used (llvmpipe),
// instead of matmul_fast.wgsl's im2col loader (PATCH), which recomputes the patch coordinates of
// every element in 64-invocation workgroups. Interleaved on lavapipe (tools/bench -ab s2d -reps
// 15, SLaK-T at 224²): stem 4×4/4 1.50×, downsamples 2×2/2 2.14× (s1), 2.71× (s2), 1.79× (s3);
// about 70 of SLaK-T's ~1350 ms forward. Other adapters keep PATCH (not measured there yet).
var ConvS2D = true

type s2dParams struct {
	N, H, W, S, OH, OW, Pad0, Pad1 uint32
}

func init() { kernels["space_to_depth"] = kernel{1, s2dParams{}} }

// patchify reports whether p is a convolution whose im2col matrix is a reshuffle of x: kernel =
// stride, no padding.
func patchify(p op.Conv2D) bool {
	return p.KH == p.Stride && p.KW == p.Stride && p.PadH == 0 && p.PadW == 0
}

// convS2D records space_to_depth.wgsl and the GEMM over its output for a patchify convolution
// (b.mu held); ok is false when that path does not apply (ConvS2D off, not patchify, an adapter
// without matmul_lane.wgsl), and the caller keeps matmul_fast.wgsl's PATCH loader.
func (b *Backend) convS2D(xt, wt, bt *Tensor, p op.Conv2D, lin op.Linear) (y *Tensor, ok bool, err error) {
	if !ConvS2D || !GEMMVec4 || !patchify(p) {
		return nil, false, nil
	}
	r, pb, lane := b.gemmLane(lin, true) // measured as the fused layers are (convS2D's doc)
	if !lane {
		return nil, false, nil
	}
	const name = "conv2d"
	oh, ow := p.OutH(), p.OutW()
	n := lin.In * lin.HW
	prm := s2dParams{N: u(n), H: u(p.H), W: u(p.W), S: u(p.Stride), OH: u(oh), OW: u(ow)}
	xs, err := b.run(name, "space_to_depth", nil, prm, []*Tensor{xt}, b.grid1D(n, 256), lin.In, lin.HW)
	if err != nil {
		return nil, true, err
	}
	b.deferred = append(b.deferred, func() { b.destroy(xs) })
	y, err = b.matmulLane(name, xs, wt, bt, nil, nil, 0, lin, r, pb)
	if err == nil {
		y.shape = []int{p.Cout, oh, ow}
	}
	return y, true, err
}
