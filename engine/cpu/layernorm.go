package cpu

import (
	"math"

	"github.com/slak-web/slak/engine/op"
)

// LayerNorm normalises over channels at every pixel p of x [C, HW]
// (ConvNeXt's channels_first LayerNorm, and nn.LayerNorm when HW = 1):
//
//	u[p] = (1/C) Σ_c x[c,p]
//	s[p] = (1/C) Σ_c (x[c,p] − u[p])²                 (biased variance)
//	y[c,p] = (x[c,p] − u[p]) / sqrt(s[p] + Eps) · γ[c] + β[c]
//
// gamma and beta are [C], y is [C, HW]. u, s and 1/sqrt(s+Eps) are computed
// in float64 and rounded once to float32 (two passes, so no cancellation);
// the affine part is float32.
func LayerNorm(x, gamma, beta []float32, p op.LayerNorm) ([]float32, error) {
	const name = "layernorm"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := check(
		op.CheckLen(name, "x", len(x), p.C*p.HW),
		op.CheckLen(name, "gamma", len(gamma), p.C),
		op.CheckLen(name, "beta", len(beta), p.C),
	); err != nil {
		return nil, err
	}
	mean, rstd := lnStats(x, p)
	y := make([]float32, p.C*p.HW) // [C, HW]
	for c := 0; c < p.C; c++ {
		xc, yc := x[c*p.HW:(c+1)*p.HW], y[c*p.HW:(c+1)*p.HW]
		g, bt := gamma[c], beta[c]
		for j, v := range xc {
			yc[j] = (v-mean[j])*rstd[j]*g + bt
		}
	}
	return y, nil
}

// lnStats returns, per pixel, the float64-computed mean and 1/sqrt(var+eps)
// rounded to float32.
func lnStats(x []float32, p op.LayerNorm) (mean, rstd []float32) {
	sum := make([]float64, p.HW)
	for c := 0; c < p.C; c++ {
		for j, v := range x[c*p.HW : (c+1)*p.HW] {
			sum[j] += float64(v)
		}
	}
	for j := range sum {
		sum[j] /= float64(p.C)
	}
	sq := make([]float64, p.HW)
	for c := 0; c < p.C; c++ {
		for j, v := range x[c*p.HW : (c+1)*p.HW] {
			d := float64(v) - sum[j]
			sq[j] += d * d
		}
	}
	mean = make([]float32, p.HW)
	rstd = make([]float32, p.HW)
	for j := range sq {
		mean[j] = float32(sum[j])
		rstd[j] = float32(1 / math.Sqrt(sq[j]/float64(p.C)+float64(p.Eps)))
	}
	return mean, rstd
}

// LayerNormGradInput is the exact input gradient of LayerNorm. With
// x̂ = (x − u)·r, r = 1/sqrt(s+Eps) and g[c,p] = dy[c,p]·γ[c]:
//
//	dx[c,p] = r[p] · ( g[c,p] − mean_c g[·,p] − x̂[c,p] · mean_c (g·x̂)[·,p] )
//
// x is the forward input [C, HW], gamma [C], dy [C, HW]; dx is [C, HW]. The
// two channel means are accumulated in float64.
func LayerNormGradInput(x, gamma, dy []float32, p op.LayerNorm) ([]float32, error) {
	const name = "layernorm"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := check(
		op.CheckLen(name, "x", len(x), p.C*p.HW),
		op.CheckLen(name, "gamma", len(gamma), p.C),
		op.CheckLen(name, "dy", len(dy), p.C*p.HW),
	); err != nil {
		return nil, err
	}
	mean, rstd := lnStats(x, p)
	mg := make([]float64, p.HW)  // Σ_c g
	mgx := make([]float64, p.HW) // Σ_c g·x̂
	for c := 0; c < p.C; c++ {
		off := c * p.HW
		for j := 0; j < p.HW; j++ {
			g := float64(dy[off+j]) * float64(gamma[c])
			xh := float64((x[off+j] - mean[j]) * rstd[j])
			mg[j] += g
			mgx[j] += g * xh
		}
	}
	inv := 1 / float64(p.C)
	dx := make([]float32, p.C*p.HW) // [C, HW]
	for c := 0; c < p.C; c++ {
		off := c * p.HW
		for j := 0; j < p.HW; j++ {
			g := float64(dy[off+j]) * float64(gamma[c])
			xh := float64((x[off+j] - mean[j]) * rstd[j])
			dx[off+j] = float32(float64(rstd[j]) * (g - mg[j]*inv - xh*mgx[j]*inv))
		}
	}
	return dx, nil
}
