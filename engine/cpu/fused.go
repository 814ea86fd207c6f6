package cpu

import (
	"fmt"

	"github.com/slak-web/slak/engine/op"
)

// LNLinearGELU is pw1 of a ConvNeXt/SLaK block, by composition (the reference
// for fused GPU kernels):
//
//	y = GELU(W · LayerNorm(x; γ, β) + b)     x [In, HW], W [Out, In], y [Out, HW]
//
// ln.C must equal lin.In and ln.HW lin.HW.
func (b *Backend) LNLinearGELU(x, gamma, beta, w, bias op.Tensor, ln op.LayerNorm, lin op.Linear) (op.Tensor, error) {
	const name = "lnlineargelu"
	if ln.C != lin.In || ln.HW != lin.HW {
		return nil, fmt.Errorf("%s: %w: layernorm [%d, %d] does not feed linear [%d, %d]", name, op.ErrShape, ln.C, ln.HW, lin.In, lin.HW)
	}
	d, err := b.gets(name, []string{"x", "gamma", "beta", "w", "b"}, []op.Tensor{x, gamma, beta, w, bias}, []bool{false, false, false, false, !lin.Bias})
	if err != nil {
		return nil, err
	}
	h, err := LayerNorm(d[0], d[1], d[2], ln)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	z, err := Linear(h, d[3], d[4], lin)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	y, err := GELU(z, op.Elementwise{N: len(z)})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b.wrap(y, lin.Out, lin.HW), nil
}

// LinearScaleResidual is pw2 plus layer scale and residual, by composition:
//
//	y[c,p] = x[c,p] + γ[c] · (Σ_i W[c,i] h[i,p] + b[c])   h [In, HW], W [Out, In], x [Out, HW]
func (b *Backend) LinearScaleResidual(h, w, bias, gamma, x op.Tensor, lin op.Linear) (op.Tensor, error) {
	const name = "linearscaleresidual"
	d, err := b.gets(name, []string{"h", "w", "b", "gamma", "x"}, []op.Tensor{h, w, bias, gamma, x}, []bool{false, false, !lin.Bias, false, false})
	if err != nil {
		return nil, err
	}
	z, err := Linear(d[0], d[1], d[2], lin)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	y, err := ScaleResidual(d[4], z, d[3], op.ScaleResidual{C: lin.Out, HW: lin.HW})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b.wrap(y, lin.Out, lin.HW), nil
}

// DWConvSum is the sum of depthwise branches over the same input, by
// composition:
//
//	y = Σ_k DWConv(x; ws[k], ps[k]) + bias[c]
//
// summed in the order of ws, then the bias. Every ps[k] must have Bias =
// false and the same C, H, W, OutH and OutW; bias is [C] or nil.
func (b *Backend) DWConvSum(x op.Tensor, ws []op.Tensor, bias op.Tensor, ps []op.DWConv) (op.Tensor, error) {
	const name = "dwconvsum"
	if len(ws) == 0 || len(ws) != len(ps) {
		return nil, fmt.Errorf("%s: %w: %d weights for %d branches (want equal and > 0)", name, op.ErrShape, len(ws), len(ps))
	}
	p0 := ps[0]
	for k, p := range ps {
		if p.Bias {
			return nil, fmt.Errorf("%s: %w: branch %d has Bias set; pass the summed bias instead", name, op.ErrShape, k)
		}
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("%s: branch %d: %w", name, k, err)
		}
		if p.C != p0.C || p.H != p0.H || p.W != p0.W || p.OutH() != p0.OutH() || p.OutW() != p0.OutW() {
			return nil, fmt.Errorf("%s: %w: branch %d maps [%d,%d,%d]→[%d,%d], branch 0 [%d,%d,%d]→[%d,%d]", name, op.ErrShape,
				k, p.C, p.H, p.W, p.OutH(), p.OutW(), p0.C, p0.H, p0.W, p0.OutH(), p0.OutW())
		}
	}
	xd, err := b.get(name, "x", x, p0.C*p0.H*p0.W)
	if err != nil {
		return nil, err
	}
	var bd []float32
	if bias != nil {
		if bd, err = b.get(name, "bias", bias, p0.C); err != nil {
			return nil, err
		}
	}
	var y []float32 // [C, OutH, OutW]
	for k, p := range ps {
		wd, err := b.get(name, fmt.Sprintf("ws[%d]", k), ws[k], -1)
		if err != nil {
			return nil, err
		}
		yk, err := DWConv(xd, wd, nil, p)
		if err != nil {
			return nil, fmt.Errorf("%s: branch %d: %w", name, k, err)
		}
		if y == nil {
			y = yk
			continue
		}
		for j := range y {
			y[j] += yk[j]
		}
	}
	if bd != nil {
		hw := p0.OutH() * p0.OutW()
		for c, v := range bd {
			for j := c * hw; j < (c+1)*hw; j++ {
				y[j] += v
			}
		}
	}
	return b.wrap(y, p0.C, p0.OutH(), p0.OutW()), nil
}
