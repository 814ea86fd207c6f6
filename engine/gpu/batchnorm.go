package gpu

import "github.com/slak-web/slak/engine/op"

// BatchNorm implements op.Backend with wgsl/batchnorm.wgsl (eval form, elementwise).
//
//	y[c,p] = (x[c,p] − mean[c]) / sqrt(var[c] + eps) · γ[c] + β[c]
func (b *Backend) BatchNorm(x, mean, variance, gamma, beta op.Tensor, p op.BatchNorm) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "batchnorm"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	xt, err := b.arg(name, "x", x, p.C*p.HW)
	if err != nil {
		return nil, err
	}
	ins := []*Tensor{xt}
	for _, a := range []struct {
		what string
		t    op.Tensor
	}{{"mean", mean}, {"variance", variance}, {"gamma", gamma}, {"beta", beta}} {
		t, err := b.arg(name, a.what, a.t, p.C)
		if err != nil {
			return nil, err
		}
		ins = append(ins, t)
	}
	return b.run(name, "batchnorm", nil, normParams{u(p.C), u(p.HW), p.Eps}, ins, b.grid1D(p.C*p.HW, 256), p.C, p.HW)
}

// BatchNormGradInput implements op.Backend with wgsl/batchnorm_grad.wgsl.
//
//	dx[c,p] = dy[c,p] · γ[c] / sqrt(var[c] + eps)
func (b *Backend) BatchNormGradInput(dy, variance, gamma op.Tensor, p op.BatchNorm) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "batchnorm_grad"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	dyt, err := b.arg(name, "dy", dy, p.C*p.HW)
	if err != nil {
		return nil, err
	}
	vt, err := b.arg(name, "variance", variance, p.C)
	if err != nil {
		return nil, err
	}
	gt, err := b.arg(name, "gamma", gamma, p.C)
	if err != nil {
		return nil, err
	}
	return b.run(name, "batchnorm_grad", nil, normParams{u(p.C), u(p.HW), p.Eps}, []*Tensor{dyt, vt, gt}, b.grid1D(p.C*p.HW, 256), p.C, p.HW)
}
