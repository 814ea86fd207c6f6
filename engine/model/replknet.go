package model

import (
	"fmt"

	"github.com/slak-web/slak/engine/op"
)

// RepLKNet (SLAK.md §5.2, replknet.py), in deploy form (every conv-BN pair
// folded into a conv with bias):
//
//	stem:        conv 3×3/s2 p1 → ReLU → dw 3×3 p1 → ReLU → 1×1 → ReLU → dw 3×3/s2 p1 → ReLU
//	RepLKBlock:  y = x + pw2(ReLU(DW K×K(r) + DW 5×5(r))),  r = ReLU(pw1(BN_prelkb(x)))
//	ConvFFN:     y = x + pw2(GELU(pw1(BN_preffn(x))))
//	transition:  1×1 → ReLU → dw 3×3/s2 p1 → ReLU
//	head:        BN_norm → avgpool → Linear
//
// Stage i's output is taken before transition i (the last one is the ERF map).

// convReLU is a segment y = ReLU(conv(x)) for a dense conv, depthwise conv or
// 1×1 conv (op.Linear), chosen by kind.
func (n *Net) convReLU(name, key string, in dims, kind string, cout, k, stride int) segment {
	wt, bt := n.w[key+".weight"], n.w[key+".bias"]
	var out dims
	var fwd func(x op.Tensor) (op.Tensor, error)
	var grad func(dz op.Tensor) (op.Tensor, error)
	switch kind {
	case "conv":
		p := op.Conv2D{Cin: in.C, H: in.H, W: in.W, Cout: cout, KH: k, KW: k, Stride: stride, PadH: k / 2, PadW: k / 2, Bias: true}
		out = dims{cout, p.OutH(), p.OutW()}
		fwd = func(x op.Tensor) (op.Tensor, error) { return n.b.Conv2D(x, wt, bt, p) }
		grad = func(dz op.Tensor) (op.Tensor, error) { return n.b.Conv2DGradInput(dz, wt, p) }
	case "dw":
		p := op.DWConv{C: in.C, H: in.H, W: in.W, KH: k, KW: k, Stride: stride, PadH: k / 2, PadW: k / 2, Bias: true}
		out = dims{in.C, p.OutH(), p.OutW()}
		fwd = func(x op.Tensor) (op.Tensor, error) { return n.b.DWConv(x, wt, bt, p) }
		grad = func(dz op.Tensor) (op.Tensor, error) { return n.b.DWConvGradInput(dz, wt, p) }
	default: // "pw": 1×1 conv
		p := op.Linear{In: in.C, Out: cout, HW: in.hw(), Bias: true}
		out = dims{cout, in.H, in.W}
		fwd = func(x op.Tensor) (op.Tensor, error) { return n.b.Linear(x, wt, bt, p) }
		grad = func(dz op.Tensor) (op.Tensor, error) { return n.b.LinearGradInput(dz, wt, p) }
	}
	el := op.Elementwise{N: out.len()}
	return segment{name: name, in: in, out: out, stageEnd: -1,
		fwd: func(x op.Tensor) (op.Tensor, error) {
			z, err := fwd(x)
			if err != nil {
				return nil, err
			}
			defer n.free(z)
			return n.b.ReLU(z, el)
		},
		bwd: func(x, dy op.Tensor) (op.Tensor, error) {
			z, err := fwd(x)
			if err != nil {
				return nil, err
			}
			dz, err := n.b.ReLUGradInput(z, dy, el)
			n.free(z)
			if err != nil {
				return nil, err
			}
			defer n.free(dz)
			return grad(dz)
		}}
}

func (n *Net) planRepLK(h, w int) []segment {
	v := n.V
	c0 := v.Dims[0]
	var segs []segment
	add := func(s segment) { segs = append(segs, s) }
	in := dims{3, h, w}
	add(n.convReLU("stem.0", "stem.0", in, "conv", c0, 3, 2))
	add(n.convReLU("stem.1", "stem.1", segs[0].out, "dw", c0, 3, 1))
	add(n.convReLU("stem.2", "stem.2", segs[1].out, "pw", c0, 1, 1))
	add(n.convReLU("stem.3", "stem.3", segs[2].out, "dw", c0, 3, 2))
	d := segs[3].out
	for st := 0; st < 4; st++ {
		for j := 0; j < v.Depths[st]; j++ {
			add(n.repLKBlock(fmt.Sprintf("stages.%d.blocks.%d.", st, 2*j), st, d))
			add(n.convFFN(fmt.Sprintf("stages.%d.blocks.%d.", st, 2*j+1), d))
		}
		segs[len(segs)-1].stageEnd = st
		if st < 3 {
			t := fmt.Sprintf("transitions.%d.", st)
			add(n.convReLU(t+"0", t+"0", d, "pw", v.Dims[st+1], 1, 1))
			add(n.convReLU(t+"1", t+"1", segs[len(segs)-1].out, "dw", v.Dims[st+1], 3, 2))
			d = segs[len(segs)-1].out
		}
	}
	return segs
}

// bnOf returns the eval BatchNorm of key on a map of shape d.
func (n *Net) bnOf(key string, d dims) (mean, variance, gamma, beta op.Tensor, p op.BatchNorm) {
	return n.w[key+".running_mean"], n.w[key+".running_var"], n.w[key+".weight"], n.w[key+".bias"],
		op.BatchNorm{C: d.C, HW: d.hw(), Eps: n.V.BNEps}
}

// bnLinear is the front of RepLKNet's RepLKBlock and ConvFFN: a standalone
// eval BN (bnKey) followed by a 1×1 conv with folded BN (linKey.weight/.bias).
// front maps x ↦ Linear(BatchNorm(x)); back maps dz ↦ dx through both. Each
// frees its intermediate at once, and back frees dz.
func (n *Net) bnLinear(bnKey, linKey string, d dims, lin op.Linear) (front, back func(op.Tensor) (op.Tensor, error)) {
	mean, variance, gamma, beta, bp := n.bnOf(bnKey, d)
	w, b := n.w[linKey+".weight"], n.w[linKey+".bias"]
	front = func(x op.Tensor) (op.Tensor, error) {
		bx, err := n.b.BatchNorm(x, mean, variance, gamma, beta, bp)
		if err != nil {
			return nil, err
		}
		defer n.free(bx)
		return n.b.Linear(bx, w, b, lin)
	}
	back = func(dz op.Tensor) (op.Tensor, error) {
		dbx, err := n.b.LinearGradInput(dz, w, lin)
		n.free(dz)
		if err != nil {
			return nil, err
		}
		defer n.free(dbx)
		return n.b.BatchNormGradInput(dbx, variance, gamma, bp)
	}
	return front, back
}

func (n *Net) repLKBlock(pre string, st int, d dims) segment {
	br := n.lkBranches(pre, st, d)
	lin := op.Linear{In: d.C, Out: d.C, HW: d.hw(), Bias: true}
	el := op.Elementwise{N: d.len()}
	w2, b2 := n.w[pre+"pw2.weight"], n.w[pre+"pw2.bias"]
	// front returns z1 = pw1(BN(x)) (pre-ReLU).
	front, back := n.bnLinear(pre+"prelkb_bn", pre+"pw1", d, lin)
	return segment{name: "RepLKBlock " + pre, in: d, out: d, stageEnd: -1,
		fwd: func(x op.Tensor) (op.Tensor, error) {
			z1, err := front(x)
			if err != nil {
				return nil, err
			}
			r1, err := n.b.ReLU(z1, el)
			n.free(z1)
			if err != nil {
				return nil, err
			}
			lk, err := n.lk(r1, pre, br, true)
			n.free(r1)
			if err != nil {
				return nil, err
			}
			r2, err := n.b.ReLU(lk, el)
			n.free(lk)
			if err != nil {
				return nil, err
			}
			o, err := n.b.Linear(r2, w2, b2, lin)
			n.free(r2)
			if err != nil {
				return nil, err
			}
			defer n.free(o)
			return n.b.Add(x, o, el)
		},
		bwd: func(x, dy op.Tensor) (op.Tensor, error) {
			z1, err := front(x)
			if err != nil {
				return nil, err
			}
			defer n.free(z1)
			r1, err := n.b.ReLU(z1, el)
			if err != nil {
				return nil, err
			}
			lk, err := n.lk(r1, pre, br, false)
			n.free(r1)
			if err != nil {
				return nil, err
			}
			dr2, err := n.b.LinearGradInput(dy, w2, lin)
			if err != nil {
				n.free(lk)
				return nil, err
			}
			dlk, err := n.b.ReLUGradInput(lk, dr2, el)
			n.free(lk, dr2)
			if err != nil {
				return nil, err
			}
			dr1, err := n.lkGrad(dlk, br)
			n.free(dlk)
			if err != nil {
				return nil, err
			}
			dz1, err := n.b.ReLUGradInput(z1, dr1, el)
			n.free(dr1)
			if err != nil {
				return nil, err
			}
			dxb, err := back(dz1)
			if err != nil {
				return nil, err
			}
			defer n.free(dxb)
			return n.b.Add(dy, dxb, el)
		}}
}

func (n *Net) convFFN(pre string, d dims) segment {
	hid := n.V.FFNRatio * d.C
	l1 := op.Linear{In: d.C, Out: hid, HW: d.hw(), Bias: true}
	l2 := op.Linear{In: hid, Out: d.C, HW: d.hw(), Bias: true}
	el := op.Elementwise{N: d.len()}
	eh := op.Elementwise{N: hid * d.hw()}
	w2, b2 := n.w[pre+"pw2.weight"], n.w[pre+"pw2.bias"]
	// front returns a = pw1(BN(x)) (pre-GELU).
	front, back := n.bnLinear(pre+"preffn_bn", pre+"pw1", d, l1)
	return segment{name: "ConvFFN " + pre, in: d, out: d, stageEnd: -1,
		fwd: func(x op.Tensor) (op.Tensor, error) {
			a, err := front(x)
			if err != nil {
				return nil, err
			}
			g, err := n.b.GELU(a, eh)
			n.free(a)
			if err != nil {
				return nil, err
			}
			o, err := n.b.Linear(g, w2, b2, l2)
			n.free(g)
			if err != nil {
				return nil, err
			}
			defer n.free(o)
			return n.b.Add(x, o, el)
		},
		bwd: func(x, dy op.Tensor) (op.Tensor, error) {
			a, err := front(x)
			if err != nil {
				return nil, err
			}
			dg, err := n.b.LinearGradInput(dy, w2, l2)
			if err != nil {
				n.free(a)
				return nil, err
			}
			da, err := n.b.GELUGradInput(a, dg, eh)
			n.free(a, dg)
			if err != nil {
				return nil, err
			}
			dxb, err := back(da)
			if err != nil {
				return nil, err
			}
			defer n.free(dxb)
			return n.b.Add(dy, dxb, el)
		}}
}
