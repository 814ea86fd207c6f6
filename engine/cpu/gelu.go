package cpu

import (
	"math"

	"github.com/slak-web/slak/engine/op"
)

// GELU is the exact (erf) GELU, nn.GELU's default:
//
//	y = 0.5 · x · (1 + erf(x / √2))
//
// evaluated in float64 with math.Erf and rounded once to float32.
func GELU(x []float32, p op.Elementwise) ([]float32, error) {
	const name = "gelu"
	if err := check(wrapParam(name, p.Validate()), op.CheckLen(name, "x", len(x), p.N)); err != nil {
		return nil, err
	}
	y := make([]float32, p.N) // [N]
	for i, v := range x {
		y[i] = gelu(v)
	}
	return y, nil
}

func gelu(v float32) float32 {
	x := float64(v)
	return float32(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
}

// GELUGradInput is the input gradient of GELU:
//
//	dx = dy · (Φ(x) + x·φ(x)),  Φ(x) = 0.5·(1 + erf(x/√2)),  φ(x) = exp(−x²/2)/√(2π)
//
// with Φ and φ in float64. x is the forward input, dy the output gradient.
func GELUGradInput(x, dy []float32, p op.Elementwise) ([]float32, error) {
	const name = "gelu"
	if err := check(wrapParam(name, p.Validate()),
		op.CheckLen(name, "x", len(x), p.N),
		op.CheckLen(name, "dy", len(dy), p.N)); err != nil {
		return nil, err
	}
	dx := make([]float32, p.N) // [N]
	for i, v := range x {
		xv := float64(v)
		cdf := 0.5 * (1 + math.Erf(xv/math.Sqrt2))
		pdf := math.Exp(-0.5*xv*xv) / math.Sqrt(2*math.Pi)
		dx[i] = float32(float64(dy[i]) * (cdf + xv*pdf))
	}
	return dx, nil
}
