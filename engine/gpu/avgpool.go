package gpu

import "github.com/slak-web/slak/engine/op"

// AvgPool implements op.Backend with wgsl/avgpool.wgsl: y[c] = mean_p x[c,p].
func (b *Backend) AvgPool(x op.Tensor, p op.AvgPool) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "avgpool"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	xt, err := b.arg(name, "x", x, p.C*p.HW)
	if err != nil {
		return nil, err
	}
	return b.run(name, "avgpool", nil, chwParams{u(p.C), u(p.HW)}, []*Tensor{xt}, b.grid1D(p.C, 256), p.C)
}

// AvgPoolGradInput implements op.Backend with wgsl/avgpool_grad.wgsl: dx[c,p] = dy[c]/HW.
func (b *Backend) AvgPoolGradInput(dy op.Tensor, p op.AvgPool) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "avgpool_grad"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	dyt, err := b.arg(name, "dy", dy, p.C)
	if err != nil {
		return nil, err
	}
	return b.run(name, "avgpool_grad", nil, chwParams{u(p.C), u(p.HW)}, []*Tensor{dyt}, b.grid1D(p.C*p.HW, 256), p.C, p.HW)
}
