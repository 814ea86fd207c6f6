package cpu

import "github.com/slak-web/slak/engine/op"

// Add is the elementwise sum y = a + b over [N].
func Add(a, b []float32, p op.Elementwise) ([]float32, error) {
	const name = "add"
	if err := check(wrapParam(name, p.Validate()),
		op.CheckLen(name, "a", len(a), p.N),
		op.CheckLen(name, "b", len(b), p.N)); err != nil {
		return nil, err
	}
	y := make([]float32, p.N) // [N]
	for i := range y {
		y[i] = a[i] + b[i]
	}
	return y, nil
}

// AddGradInput is dL/da = dy (and dL/db is the same); it returns a copy of dy.
func AddGradInput(dy []float32, p op.Elementwise) ([]float32, error) {
	const name = "add"
	if err := check(wrapParam(name, p.Validate()), op.CheckLen(name, "dy", len(dy), p.N)); err != nil {
		return nil, err
	}
	return append([]float32(nil), dy...), nil
}
