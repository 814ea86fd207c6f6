package gpu

import "github.com/slak-web/slak/engine/op"

// GELU implements op.Backend with wgsl/gelu.wgsl: y = 0.5·x·(1 + erf(x/√2)), erf by
// Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7).
func (b *Backend) GELU(x op.Tensor, p op.Elementwise) (op.Tensor, error) {
	return b.elementwise("gelu", "gelu", p, []string{"x"}, x)
}

// GELUGradInput implements op.Backend with wgsl/gelu_grad.wgsl: dx = dy·(Φ(x) + x·φ(x)).
func (b *Backend) GELUGradInput(x, dy op.Tensor, p op.Elementwise) (op.Tensor, error) {
	return b.elementwise("gelu_grad", "gelu_grad", p, []string{"x", "dy"}, x, dy)
}
