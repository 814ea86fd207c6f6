package gpu

import "github.com/slak-web/slak/engine/op"

// LayerNorm implements op.Backend with wgsl/layernorm.wgsl (one thread per pixel, two passes).
//
//	y[c,p] = (x[c,p] − u_p) / sqrt(s_p + eps) · γ[c] + β[c]
func (b *Backend) LayerNorm(x, gamma, beta op.Tensor, p op.LayerNorm) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "layernorm"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	xt, err := b.arg(name, "x", x, p.C*p.HW)
	if err != nil {
		return nil, err
	}
	gt, err := b.arg(name, "gamma", gamma, p.C)
	if err != nil {
		return nil, err
	}
	bt, err := b.arg(name, "beta", beta, p.C)
	if err != nil {
		return nil, err
	}
	return b.run(name, "layernorm", nil, normParams{u(p.C), u(p.HW), p.Eps}, []*Tensor{xt, gt, bt}, b.grid1D(p.HW, 256), p.C, p.HW)
}

// LayerNormGradInput implements op.Backend with wgsl/layernorm_grad.wgsl.
//
//	dx = r · (g − mean_c g − x̂ · mean_c(g·x̂)),  g = dy·γ,  x̂ = (x−u)·r,  r = 1/sqrt(s+eps)
func (b *Backend) LayerNormGradInput(x, gamma, dy op.Tensor, p op.LayerNorm) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "layernorm_grad"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	xt, err := b.arg(name, "x", x, p.C*p.HW)
	if err != nil {
		return nil, err
	}
	gt, err := b.arg(name, "gamma", gamma, p.C)
	if err != nil {
		return nil, err
	}
	dyt, err := b.arg(name, "dy", dy, p.C*p.HW)
	if err != nil {
		return nil, err
	}
	return b.run(name, "layernorm_grad", nil, normParams{u(p.C), u(p.HW), p.Eps}, []*Tensor{xt, gt, dyt}, b.grid1D(p.HW, 256), p.C, p.HW)
}
