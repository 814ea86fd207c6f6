package cpu

import (
	"math"

	"github.com/slak-web/slak/engine/op"
)

// BatchNorm is BatchNorm2d in eval form over x [C, HW]:
//
//	y[c,p] = (x[c,p] − mean[c]) / sqrt(var[c] + Eps) · γ[c] + β[c]
//
// evaluated as y = x·scale[c] + shift[c] with (scale, shift) = BNAffine(…),
// which is computed in float64 and rounded once. mean, variance, gamma, beta
// are [C]; y is [C, HW].
func BatchNorm(x, mean, variance, gamma, beta []float32, p op.BatchNorm) ([]float32, error) {
	const name = "batchnorm"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := check(
		op.CheckLen(name, "x", len(x), p.C*p.HW),
		op.CheckLen(name, "mean", len(mean), p.C),
		op.CheckLen(name, "variance", len(variance), p.C),
		op.CheckLen(name, "gamma", len(gamma), p.C),
		op.CheckLen(name, "beta", len(beta), p.C),
	); err != nil {
		return nil, err
	}
	scale, shift := BNAffine(mean, variance, gamma, beta, p.Eps)
	y := make([]float32, p.C*p.HW) // [C, HW]
	for c := 0; c < p.C; c++ {
		s, t := scale[c], shift[c]
		xc, yc := x[c*p.HW:(c+1)*p.HW], y[c*p.HW:(c+1)*p.HW]
		for j, v := range xc {
			yc[j] = v*s + t
		}
	}
	return y, nil
}

// BatchNormGradInput is the input gradient of eval-mode BatchNorm (the
// statistics are constants):
//
//	dx[c,p] = dy[c,p] · γ[c] / sqrt(var[c] + Eps)
//
// dy is [C, HW], variance and gamma are [C].
func BatchNormGradInput(dy, variance, gamma []float32, p op.BatchNorm) ([]float32, error) {
	const name = "batchnorm"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := check(
		op.CheckLen(name, "dy", len(dy), p.C*p.HW),
		op.CheckLen(name, "variance", len(variance), p.C),
		op.CheckLen(name, "gamma", len(gamma), p.C),
	); err != nil {
		return nil, err
	}
	dx := make([]float32, p.C*p.HW) // [C, HW]
	for c := 0; c < p.C; c++ {
		s := float32(float64(gamma[c]) / math.Sqrt(float64(variance[c])+float64(p.Eps)))
		for j, d := range dy[c*p.HW : (c+1)*p.HW] {
			dx[c*p.HW+j] = d * s
		}
	}
	return dx, nil
}

// BNAffine turns eval-mode BatchNorm statistics into a per-channel affine map
// y = x·scale + shift:
//
//	scale[c] = γ[c] / sqrt(var[c] + eps)
//	shift[c] = β[c] − mean[c] · scale[c]
//
// computed in float64 and rounded once to float32. All four slices must have
// the same length; it panics otherwise (a programming error in a converter).
func BNAffine(mean, variance, gamma, beta []float32, eps float32) (scale, shift []float32) {
	n := len(mean)
	if len(variance) != n || len(gamma) != n || len(beta) != n {
		panic("cpu.BNAffine: mean, variance, gamma and beta differ in length")
	}
	scale = make([]float32, n)
	shift = make([]float32, n)
	for c := 0; c < n; c++ {
		s := float64(gamma[c]) / math.Sqrt(float64(variance[c])+float64(eps))
		scale[c] = float32(s)
		shift[c] = float32(float64(beta[c]) - float64(mean[c])*s)
	}
	return scale, shift
}

// FoldBN folds an eval-mode BatchNorm into the convolution (or linear layer)
// before it. w has any layout whose outermost dimension is the output channel
// (OIHW, depthwise [C,KH,KW], [Out,In]) and outCh rows; b is the conv's bias
// [outCh] or nil for none (zeros). With s = γ/sqrt(var+eps) in float64:
//
//	w2[o, …] = w[o, …] · s[o]
//	b2[o]    = (b[o] − mean[o]) · s[o] + β[o]
//
// so that BN(conv(x; w, b)) = conv(x; w2, b2) up to float32 rounding. It
// panics on inconsistent lengths (a programming error in a converter).
func FoldBN(w []float32, outCh int, b []float32, mean, variance, gamma, beta []float32, eps float32) (w2, b2 []float32) {
	if outCh <= 0 || len(w)%outCh != 0 || len(w) == 0 {
		panic("cpu.FoldBN: len(w) is not a positive multiple of outCh")
	}
	if len(mean) != outCh || len(variance) != outCh || len(gamma) != outCh || len(beta) != outCh || (b != nil && len(b) != outCh) {
		panic("cpu.FoldBN: bias or BN statistics length differs from outCh")
	}
	per := len(w) / outCh
	w2 = make([]float32, len(w))
	b2 = make([]float32, outCh)
	for o := 0; o < outCh; o++ {
		s := float64(gamma[o]) / math.Sqrt(float64(variance[o])+float64(eps))
		for j := o * per; j < (o+1)*per; j++ {
			w2[j] = float32(float64(w[j]) * s)
		}
		bo := 0.0
		if b != nil {
			bo = float64(b[o])
		}
		b2[o] = float32((bo-float64(mean[o]))*s + float64(beta[o]))
	}
	return w2, b2
}
