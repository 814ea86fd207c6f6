package cpu

import "github.com/slak-web/slak/engine/op"

// Linear is a pointwise (1×1) layer on x [In, HW], or a fully connected layer
// when HW = 1:
//
//	y[o, p] = b[o] + Σ_i W[o, i] · x[i, p]
//
// W is [Out, In] (nn.Linear layout), b is [Out] (nil when !p.Bias), y is
// [Out, HW]. The loop is [Out,In]×[In,HW] with the pixel loop innermost: for
// each (o, i) it adds W[o,i]·x[i,:] to y[o,:], summing over i in order, in
// float32, starting from b[o].
func Linear(x, w, b []float32, p op.Linear) ([]float32, error) {
	const name = "linear"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := check(
		op.CheckLen(name, "x", len(x), p.In*p.HW),
		op.CheckLen(name, "w", len(w), p.Out*p.In),
	); err != nil {
		return nil, err
	}
	if p.Bias {
		if err := op.CheckLen(name, "b", len(b), p.Out); err != nil {
			return nil, err
		}
	}
	n := p.HW
	y := make([]float32, p.Out*n) // [Out, HW]
	parallelFor(p.Out, 1, func(o0, o1 int) {
		for o := o0; o < o1; o++ {
			yo := y[o*n : (o+1)*n]
			if p.Bias {
				for j := range yo {
					yo[j] = b[o]
				}
			}
			wo := w[o*p.In : (o+1)*p.In]
			for i, wv := range wo {
				xi := x[i*n : (i+1)*n]
				for j, xv := range xi {
					yo[j] += wv * xv
				}
			}
		}
	})
	return y, nil
}

// LinearGradInput is the input gradient of Linear:
//
//	dx[i, p] = Σ_o W[o, i] · dy[o, p]
//
// dy is [Out, HW], W is [Out, In], dx is [In, HW]; the sum runs over o in
// order, in float32.
func LinearGradInput(dy, w []float32, p op.Linear) ([]float32, error) {
	const name = "linear"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := check(
		op.CheckLen(name, "dy", len(dy), p.Out*p.HW),
		op.CheckLen(name, "w", len(w), p.Out*p.In),
	); err != nil {
		return nil, err
	}
	n := p.HW
	dx := make([]float32, p.In*n) // [In, HW]
	parallelFor(p.In, 1, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			dxi := dx[i*n : (i+1)*n]
			for o := 0; o < p.Out; o++ {
				wv := w[o*p.In+i]
				dyo := dy[o*n : (o+1)*n]
				for j, d := range dyo {
					dxi[j] += wv * d
				}
			}
		}
	})
	return dx, nil
}
