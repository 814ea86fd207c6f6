package cpu

import (
	"math"

	"github.com/slak-web/slak/engine/op"
)

// Softmax over a vector x [N]:
//
//	y[i] = exp(x[i] − max x) / Σ_j exp(x[j] − max x)
//
// with exp and the sum in float64, rounded once to float32.
func Softmax(x []float32, p op.Softmax) ([]float32, error) {
	const name = "softmax"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := op.CheckLen(name, "x", len(x), p.N); err != nil {
		return nil, err
	}
	m := math.Inf(-1)
	for _, v := range x {
		m = math.Max(m, float64(v))
	}
	e := make([]float64, p.N)
	s := 0.0
	for i, v := range x {
		e[i] = math.Exp(float64(v) - m)
		s += e[i]
	}
	y := make([]float32, p.N) // [N]
	for i := range y {
		y[i] = float32(e[i] / s)
	}
	return y, nil
}

// SoftmaxGradInput takes the forward output y and the output gradient dy:
//
//	dx[i] = y[i] · (dy[i] − Σ_j y[j]·dy[j])
//
// with the dot product in float64.
func SoftmaxGradInput(y, dy []float32, p op.Softmax) ([]float32, error) {
	const name = "softmax"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := check(op.CheckLen(name, "y", len(y), p.N), op.CheckLen(name, "dy", len(dy), p.N)); err != nil {
		return nil, err
	}
	dot := 0.0
	for i := range y {
		dot += float64(y[i]) * float64(dy[i])
	}
	dx := make([]float32, p.N) // [N]
	for i := range dx {
		dx[i] = float32(float64(y[i]) * (float64(dy[i]) - dot))
	}
	return dx, nil
}
