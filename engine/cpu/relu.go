package cpu

import "github.com/slak-web/slak/engine/op"

// ReLU is y = max(x, 0).
func ReLU(x []float32, p op.Elementwise) ([]float32, error) {
	const name = "relu"
	if err := check(wrapParam(name, p.Validate()), op.CheckLen(name, "x", len(x), p.N)); err != nil {
		return nil, err
	}
	y := make([]float32, p.N) // [N]
	for i, v := range x {
		if v > 0 {
			y[i] = v
		}
	}
	return y, nil
}

// ReLUGradInput is dx = dy where x > 0, else 0 (PyTorch's convention: the
// gradient at x = 0 is 0). x is the forward input.
func ReLUGradInput(x, dy []float32, p op.Elementwise) ([]float32, error) {
	const name = "relu"
	if err := check(wrapParam(name, p.Validate()),
		op.CheckLen(name, "x", len(x), p.N),
		op.CheckLen(name, "dy", len(dy), p.N)); err != nil {
		return nil, err
	}
	dx := make([]float32, p.N) // [N]
	for i, v := range x {
		if v > 0 {
			dx[i] = dy[i]
		}
	}
	return dx, nil
}
