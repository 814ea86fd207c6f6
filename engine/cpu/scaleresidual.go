package cpu

import "github.com/slak-web/slak/engine/op"

// ScaleResidual is ConvNeXt's layer scale plus residual over [C, HW]:
//
//	y[c,p] = x[c,p] + γ[c] · r[c,p]
//
// x is the residual input, r the branch output, gamma is [C].
func ScaleResidual(x, r, gamma []float32, p op.ScaleResidual) ([]float32, error) {
	const name = "scaleresidual"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := check(
		op.CheckLen(name, "x", len(x), p.C*p.HW),
		op.CheckLen(name, "r", len(r), p.C*p.HW),
		op.CheckLen(name, "gamma", len(gamma), p.C),
	); err != nil {
		return nil, err
	}
	y := make([]float32, p.C*p.HW) // [C, HW]
	for c := 0; c < p.C; c++ {
		g := gamma[c]
		for j := c * p.HW; j < (c+1)*p.HW; j++ {
			y[j] = x[j] + g*r[j]
		}
	}
	return y, nil
}

// ScaleResidualGradInput returns dL/dr = γ[c] · dy[c,p] (dL/dx is dy itself).
func ScaleResidualGradInput(dy, gamma []float32, p op.ScaleResidual) ([]float32, error) {
	const name = "scaleresidual"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := check(
		op.CheckLen(name, "dy", len(dy), p.C*p.HW),
		op.CheckLen(name, "gamma", len(gamma), p.C),
	); err != nil {
		return nil, err
	}
	dr := make([]float32, p.C*p.HW) // [C, HW]
	for c := 0; c < p.C; c++ {
		g := gamma[c]
		for j := c * p.HW; j < (c+1)*p.HW; j++ {
			dr[j] = g * dy[j]
		}
	}
	return dr, nil
}
