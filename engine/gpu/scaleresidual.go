package gpu

import "github.com/slak-web/slak/engine/op"

// ScaleResidual implements op.Backend with wgsl/scaleresidual.wgsl: y[c,p] = x[c,p] + γ[c]·r[c,p].
func (b *Backend) ScaleResidual(x, r, gamma op.Tensor, p op.ScaleResidual) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "scaleresidual"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	xt, err := b.arg(name, "x", x, p.C*p.HW)
	if err != nil {
		return nil, err
	}
	rt, err := b.arg(name, "r", r, p.C*p.HW)
	if err != nil {
		return nil, err
	}
	gt, err := b.arg(name, "gamma", gamma, p.C)
	if err != nil {
		return nil, err
	}
	return b.run(name, "scaleresidual", nil, chwParams{u(p.C), u(p.HW)}, []*Tensor{xt, rt, gt}, b.grid1D(p.C*p.HW, 256), xt.shape...)
}

// ScaleResidualGradInput implements op.Backend with wgsl/scaleresidual_grad.wgsl:
// dL/dr[c,p] = γ[c]·dy[c,p] (dL/dx is dy itself).
func (b *Backend) ScaleResidualGradInput(dy, gamma op.Tensor, p op.ScaleResidual) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "scaleresidual_grad"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	dyt, err := b.arg(name, "dy", dy, p.C*p.HW)
	if err != nil {
		return nil, err
	}
	gt, err := b.arg(name, "gamma", gamma, p.C)
	if err != nil {
		return nil, err
	}
	return b.run(name, "scaleresidual_grad", nil, chwParams{u(p.C), u(p.HW)}, []*Tensor{dyt, gt}, b.grid1D(p.C*p.HW, 256), dyt.shape...)
}
