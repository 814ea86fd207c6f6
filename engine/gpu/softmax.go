package gpu

import "github.com/slak-web/slak/engine/op"

// Softmax implements op.Backend with wgsl/softmax.wgsl (one workgroup, tree reductions):
// y[i] = exp(x[i] − max x) / Σ_j exp(x[j] − max x).
func (b *Backend) Softmax(x op.Tensor, p op.Softmax) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "softmax"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	xt, err := b.arg(name, "x", x, p.N)
	if err != nil {
		return nil, err
	}
	return b.run(name, "softmax", nil, nParams{u(p.N)}, []*Tensor{xt}, [3]uint32{1, 1, 1}, xt.shape...)
}

// SoftmaxGradInput implements op.Backend with wgsl/softmax_grad.wgsl: dx = y ⊙ (dy − Σ y·dy).
func (b *Backend) SoftmaxGradInput(y, dy op.Tensor, p op.Softmax) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "softmax_grad"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	yt, err := b.arg(name, "y", y, p.N)
	if err != nil {
		return nil, err
	}
	dyt, err := b.arg(name, "dy", dy, p.N)
	if err != nil {
		return nil, err
	}
	return b.run(name, "softmax_grad", nil, nParams{u(p.N)}, []*Tensor{yt, dyt}, [3]uint32{1, 1, 1}, yt.shape...)
}
