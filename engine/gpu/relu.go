package gpu

import "github.com/slak-web/slak/engine/op"

// ReLU implements op.Backend with wgsl/relu.wgsl: y = max(x, 0).
func (b *Backend) ReLU(x op.Tensor, p op.Elementwise) (op.Tensor, error) {
	return b.elementwise("relu", "relu", p, []string{"x"}, x)
}

// ReLUGradInput implements op.Backend with wgsl/relu_grad.wgsl: dx = dy where x > 0, else 0.
func (b *Backend) ReLUGradInput(x, dy op.Tensor, p op.Elementwise) (op.Tensor, error) {
	return b.elementwise("relu_grad", "relu_grad", p, []string{"x", "dy"}, x, dy)
}
