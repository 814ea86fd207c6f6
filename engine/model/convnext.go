package model

import (
	"fmt"

	"github.com/slak-web/slak/engine/op"
)

// SLaK and ConvNeXt share the macro design (SLAK.md §1.2, §1.3, §5.1):
//
//	stem:        x → Conv2d 4×4/s4 (+bias) → LayerNorm_C
//	downsample:  x → LayerNorm_C → Conv2d 2×2/s2 (+bias)
//	block:       y = x + γ ⊙ pwconv2(GELU(pwconv1(LayerNorm_C(LK(x)))))
//	             LK = SLaK: DW K×N + DW N×K + DW N×N (BN folded, "same" padding per axis)
//	                  ConvNeXt: DW 7×7, padding 3, bias
//	head:        avgpool → LayerNorm → Linear
//
// In CHW every LayerNorm is over channels at each pixel and every nn.Linear
// on the channel axis is op.Linear over HW pixels.

// lkBranch is one depthwise branch of a block's large kernel.
type lkBranch struct {
	w, b op.Tensor
	p    op.DWConv // Bias = true (each branch has its own folded bias)
}

// lkBranches lists the depthwise branches of block prefix pre in stage st.
func (n *Net) lkBranches(pre string, st int, d dims) []lkBranch {
	k, N := n.V.Kernels[st], n.V.N
	mk := func(key string, kh, kw int) lkBranch {
		return lkBranch{w: n.w[key+".weight"], b: n.w[key+".bias"],
			p: op.DWConv{C: d.C, H: d.H, W: d.W, KH: kh, KW: kw, Stride: 1, PadH: kh / 2, PadW: kw / 2, Bias: true}}
	}
	switch n.V.Family {
	case SLaK:
		br := []lkBranch{mk(pre+"large_kernel.LoRA1", k, N), mk(pre+"large_kernel.LoRA2", N, k)}
		if N < k {
			br = append(br, mk(pre+"large_kernel.small_conv", N, N))
		}
		return br
	case ConvNeXt:
		return []lkBranch{mk(pre+"dwconv", k, k)}
	default: // RepLKNet
		return []lkBranch{mk(pre+"large_kernel.lkb_origin", k, k), mk(pre+"large_kernel.small_conv", N, N)}
	}
}

// lk runs Σ_k DWConv(x; branch k) + bias_k, fused when allowed.
func (n *Net) lk(x op.Tensor, pre string, br []lkBranch, fused bool) (op.Tensor, error) {
	if len(br) == 1 {
		return n.b.DWConv(x, br[0].w, br[0].b, br[0].p)
	}
	if fused && n.fused != nil && n.UseFused {
		ws := make([]op.Tensor, len(br))
		ps := make([]op.DWConv, len(br))
		for i, b := range br {
			ws[i], ps[i] = b.w, b.p
			ps[i].Bias = false
		}
		return n.fused.DWConvSum(x, ws, n.lkBias[pre+"large_kernel."], ps)
	}
	var sum op.Tensor
	for _, b := range br {
		y, err := n.b.DWConv(x, b.w, b.b, b.p)
		if err != nil {
			n.free(sum)
			return nil, err
		}
		if sum == nil {
			sum = y
			continue
		}
		s, err := n.b.Add(sum, y, op.Elementwise{N: y.Len()})
		n.free(sum, y)
		if err != nil {
			return nil, err
		}
		sum = s
	}
	return sum, nil
}

// lkGrad is the input gradient of Σ_k DWConv(x; branch k): Σ_k DWConvGradInput(dy).
func (n *Net) lkGrad(dy op.Tensor, br []lkBranch) (op.Tensor, error) {
	var sum op.Tensor
	for _, b := range br {
		g, err := n.b.DWConvGradInput(dy, b.w, b.p)
		if err != nil {
			n.free(sum)
			return nil, err
		}
		if sum == nil {
			sum = g
			continue
		}
		s, err := n.b.Add(sum, g, op.Elementwise{N: g.Len()})
		n.free(sum, g)
		if err != nil {
			return nil, err
		}
		sum = s
	}
	return sum, nil
}

func (n *Net) planConvNeXt(h, w int) ([]segment, error) {
	v := n.V
	if h < 32 || w < 32 {
		return nil, fmt.Errorf("model: %s: input %d×%d is too small: the stem (/4) and three /2 downsamplings "+
			"need at least 32×32 so that the last stage keeps 1 pixel", v.Name, h, w)
	}
	var segs []segment
	in := dims{3, h, w}
	lnEps := v.LNEps
	for st := 0; st < 4; st++ {
		pre := fmt.Sprintf("downsample_layers.%d.", st)
		if st == 0 {
			cp := op.Conv2D{Cin: 3, H: h, W: w, Cout: v.Dims[0], KH: 4, KW: 4, Stride: 4, Bias: true}
			out := dims{v.Dims[0], cp.OutH(), cp.OutW()}
			ln := op.LayerNorm{C: out.C, HW: out.hw(), Eps: lnEps}
			cw, cb, g, be := n.w[pre+"0.weight"], n.w[pre+"0.bias"], n.w[pre+"1.weight"], n.w[pre+"1.bias"]
			segs = append(segs, segment{name: "stem", in: in, out: out, stageEnd: -1,
				fwd: func(x op.Tensor) (op.Tensor, error) {
					c, err := n.b.Conv2D(x, cw, cb, cp)
					if err != nil {
						return nil, err
					}
					defer n.free(c)
					return n.b.LayerNorm(c, g, be, ln)
				},
				bwd: func(x, dy op.Tensor) (op.Tensor, error) {
					c, err := n.b.Conv2D(x, cw, cb, cp)
					if err != nil {
						return nil, err
					}
					dc, err := n.b.LayerNormGradInput(c, g, dy, ln)
					n.free(c)
					if err != nil {
						return nil, err
					}
					defer n.free(dc)
					return n.b.Conv2DGradInput(dc, cw, cp)
				}})
			in = out
		} else {
			ln := op.LayerNorm{C: in.C, HW: in.hw(), Eps: lnEps}
			cp := op.Conv2D{Cin: in.C, H: in.H, W: in.W, Cout: v.Dims[st], KH: 2, KW: 2, Stride: 2, Bias: true}
			out := dims{v.Dims[st], cp.OutH(), cp.OutW()}
			g, be, cw, cb := n.w[pre+"0.weight"], n.w[pre+"0.bias"], n.w[pre+"1.weight"], n.w[pre+"1.bias"]
			segs = append(segs, segment{name: fmt.Sprintf("downsample %d", st), in: in, out: out, stageEnd: -1,
				fwd: func(x op.Tensor) (op.Tensor, error) {
					l, err := n.b.LayerNorm(x, g, be, ln)
					if err != nil {
						return nil, err
					}
					defer n.free(l)
					return n.b.Conv2D(l, cw, cb, cp)
				},
				bwd: func(x, dy op.Tensor) (op.Tensor, error) {
					dl, err := n.b.Conv2DGradInput(dy, cw, cp)
					if err != nil {
						return nil, err
					}
					defer n.free(dl)
					return n.b.LayerNormGradInput(x, g, dl, ln)
				}})
			in = out
		}
		for j := 0; j < v.Depths[st]; j++ {
			sg := n.convNeXtBlock(fmt.Sprintf("stages.%d.%d.", st, j), st, in)
			if j == v.Depths[st]-1 {
				sg.stageEnd = st
			}
			segs = append(segs, sg)
		}
	}
	return segs, nil
}

// convNeXtBlock is one SLaK/ConvNeXt block on a map of shape d.
func (n *Net) convNeXtBlock(pre string, st int, d dims) segment {
	v := n.V
	br := n.lkBranches(pre, st, d)
	hid := v.FFNRatio * d.C
	ln := op.LayerNorm{C: d.C, HW: d.hw(), Eps: v.LNEps}
	l1 := op.Linear{In: d.C, Out: hid, HW: d.hw(), Bias: true}
	l2 := op.Linear{In: hid, Out: d.C, HW: d.hw(), Bias: true}
	sr := op.ScaleResidual{C: d.C, HW: d.hw()}
	lg, lb := n.w[pre+"norm.weight"], n.w[pre+"norm.bias"]
	w1, b1, w2, b2 := n.w[pre+"pwconv1.weight"], n.w[pre+"pwconv1.bias"], n.w[pre+"pwconv2.weight"], n.w[pre+"pwconv2.bias"]
	gamma := n.w[pre+"gamma"]
	// pw1 returns a = pwconv1(LN(lk)) (pre-GELU) and frees nothing it was given.
	pw1 := func(lk op.Tensor) (op.Tensor, error) {
		nrm, err := n.b.LayerNorm(lk, lg, lb, ln)
		if err != nil {
			return nil, err
		}
		defer n.free(nrm)
		return n.b.Linear(nrm, w1, b1, l1)
	}
	return segment{name: "block " + pre, in: d, out: d, stageEnd: -1,
		fwd: func(x op.Tensor) (op.Tensor, error) {
			lk, err := n.lk(x, pre, br, true)
			if err != nil {
				return nil, err
			}
			if n.fused != nil && n.UseFused {
				g, err := n.fused.LNLinearGELU(lk, lg, lb, w1, b1, ln, l1)
				n.free(lk)
				if err != nil {
					return nil, err
				}
				defer n.free(g)
				return n.fused.LinearScaleResidual(g, w2, b2, gamma, x, l2)
			}
			a, err := pw1(lk)
			n.free(lk)
			if err != nil {
				return nil, err
			}
			g, err := n.b.GELU(a, op.Elementwise{N: a.Len()})
			n.free(a)
			if err != nil {
				return nil, err
			}
			r, err := n.b.Linear(g, w2, b2, l2)
			n.free(g)
			if err != nil {
				return nil, err
			}
			defer n.free(r)
			return n.b.ScaleResidual(x, r, gamma, sr)
		},
		bwd: func(x, dy op.Tensor) (op.Tensor, error) {
			// Recompute lk (LN input) and a (GELU input) from x.
			lk, err := n.lk(x, pre, br, false)
			if err != nil {
				return nil, err
			}
			defer n.free(lk)
			a, err := pw1(lk)
			if err != nil {
				return nil, err
			}
			dr, err := n.b.ScaleResidualGradInput(dy, gamma, sr)
			if err != nil {
				n.free(a)
				return nil, err
			}
			dg, err := n.b.LinearGradInput(dr, w2, l2)
			n.free(dr)
			if err != nil {
				n.free(a)
				return nil, err
			}
			da, err := n.b.GELUGradInput(a, dg, op.Elementwise{N: a.Len()})
			n.free(a, dg)
			if err != nil {
				return nil, err
			}
			dn, err := n.b.LinearGradInput(da, w1, l1)
			n.free(da)
			if err != nil {
				return nil, err
			}
			dlk, err := n.b.LayerNormGradInput(lk, lg, dn, ln)
			n.free(dn)
			if err != nil {
				return nil, err
			}
			dxb, err := n.lkGrad(dlk, br)
			n.free(dlk)
			if err != nil {
				return nil, err
			}
			defer n.free(dxb)
			return n.b.Add(dy, dxb, op.Elementwise{N: d.len()})
		}}
}

// head runs the classifier on the last map f of shape d and returns logits [Classes].
func (n *Net) head(f op.Tensor, d dims) (op.Tensor, error) {
	v := n.V
	hl := op.Linear{In: d.C, Out: v.Classes, HW: 1, Bias: true}
	switch v.Family {
	case RepLKNet:
		// norm (BatchNorm2d) → avgpool → Linear.
		bn, err := n.b.BatchNorm(f, n.w["norm.running_mean"], n.w["norm.running_var"], n.w["norm.weight"], n.w["norm.bias"],
			op.BatchNorm{C: d.C, HW: d.hw(), Eps: v.BNEps})
		if err != nil {
			return nil, err
		}
		p, err := n.b.AvgPool(bn, op.AvgPool{C: d.C, HW: d.hw()})
		n.free(bn)
		if err != nil {
			return nil, err
		}
		defer n.free(p)
		return n.b.Linear(p, n.w["head.weight"], n.w["head.bias"], hl)
	default:
		// avgpool → LayerNorm → Linear.
		p, err := n.b.AvgPool(f, op.AvgPool{C: d.C, HW: d.hw()})
		if err != nil {
			return nil, err
		}
		l, err := n.b.LayerNorm(p, n.w["norm.weight"], n.w["norm.bias"], op.LayerNorm{C: d.C, HW: 1, Eps: v.LNEps})
		n.free(p)
		if err != nil {
			return nil, err
		}
		defer n.free(l)
		return n.b.Linear(l, n.w["head.weight"], n.w["head.bias"], hl)
	}
}
