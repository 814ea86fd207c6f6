package cpu

import "github.com/slak-web/slak/engine/op"

// AvgPool is the global average pool over x [C, HW]:
//
//	y[c] = (1/HW) Σ_p x[c,p]
//
// summed in float64 and rounded once; y is [C].
func AvgPool(x []float32, p op.AvgPool) ([]float32, error) {
	const name = "avgpool"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := op.CheckLen(name, "x", len(x), p.C*p.HW); err != nil {
		return nil, err
	}
	y := make([]float32, p.C) // [C]
	for c := range y {
		s := 0.0
		for _, v := range x[c*p.HW : (c+1)*p.HW] {
			s += float64(v)
		}
		y[c] = float32(s / float64(p.HW))
	}
	return y, nil
}

// AvgPoolGradInput is dx[c,p] = dy[c] / HW; dy is [C], dx is [C, HW].
func AvgPoolGradInput(dy []float32, p op.AvgPool) ([]float32, error) {
	const name = "avgpool"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := op.CheckLen(name, "dy", len(dy), p.C); err != nil {
		return nil, err
	}
	dx := make([]float32, p.C*p.HW) // [C, HW]
	for c, d := range dy {
		v := float32(float64(d) / float64(p.HW))
		for j := c * p.HW; j < (c+1)*p.HW; j++ {
			dx[j] = v
		}
	}
	return dx, nil
}
