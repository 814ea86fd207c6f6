package cpu

import "github.com/slak-web/slak/engine/op"

// Conv2D is the dense convolution (cross-correlation, PyTorch's Conv2d):
//
//	y[o, oy, ox] = b[o] + Σ_{i,ky,kx} w[o, i, ky, kx] · x[i, oy·S+ky−PH, ox·S+kx−PW]
//
// with zero padding. x is [Cin, H, W], w is [Cout, Cin, KH, KW], b is [Cout]
// (nil when !p.Bias), y is [Cout, OutH, OutW]. The sum runs over i, then ky,
// then kx, in float32, starting from b[o].
func Conv2D(x, w, b []float32, p op.Conv2D) ([]float32, error) {
	const name = "conv2d"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := check(
		op.CheckLen(name, "x", len(x), p.Cin*p.H*p.W),
		op.CheckLen(name, "w", len(w), p.Cout*p.Cin*p.KH*p.KW),
	); err != nil {
		return nil, err
	}
	if p.Bias {
		if err := op.CheckLen(name, "b", len(b), p.Cout); err != nil {
			return nil, err
		}
	}
	oh, ow := p.OutH(), p.OutW()
	y := make([]float32, p.Cout*oh*ow) // [Cout, OutH, OutW]
	parallelFor(p.Cout, 1, func(o0, o1 int) {
		for o := o0; o < o1; o++ {
			yo := y[o*oh*ow : (o+1)*oh*ow]
			if p.Bias {
				for j := range yo {
					yo[j] = b[o]
				}
			}
			for i := 0; i < p.Cin; i++ {
				xi := x[i*p.H*p.W : (i+1)*p.H*p.W]
				for ky := 0; ky < p.KH; ky++ {
					oy0, oy1 := validRange(oh, p.H, p.Stride, ky, p.PadH)
					for kx := 0; kx < p.KW; kx++ {
						wv := w[((o*p.Cin+i)*p.KH+ky)*p.KW+kx]
						ox0, ox1 := validRange(ow, p.W, p.Stride, kx, p.PadW)
						for oy := oy0; oy < oy1; oy++ {
							row := xi[(oy*p.Stride+ky-p.PadH)*p.W:]
							yr := yo[oy*ow : (oy+1)*ow]
							ix := ox0*p.Stride + kx - p.PadW
							for ox := ox0; ox < ox1; ox++ {
								yr[ox] += wv * row[ix]
								ix += p.Stride
							}
						}
					}
				}
			}
		}
	})
	return y, nil
}

// Conv2DGradInput is the input gradient of Conv2D (a transposed convolution):
//
//	dx[i, iy, ix] = Σ_{o,ky,kx : iy = oy·S+ky−PH, ix = ox·S+kx−PW} w[o, i, ky, kx] · dy[o, oy, ox]
//
// dy is [Cout, OutH, OutW], w is [Cout, Cin, KH, KW], dx is [Cin, H, W].
// Input pixels that no output reads (stride > kernel, or the bottom/right
// remainder) get 0.
func Conv2DGradInput(dy, w []float32, p op.Conv2D) ([]float32, error) {
	const name = "conv2d"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	oh, ow := p.OutH(), p.OutW()
	if err := check(
		op.CheckLen(name, "dy", len(dy), p.Cout*oh*ow),
		op.CheckLen(name, "w", len(w), p.Cout*p.Cin*p.KH*p.KW),
	); err != nil {
		return nil, err
	}
	dx := make([]float32, p.Cin*p.H*p.W) // [Cin, H, W]
	parallelFor(p.Cin, 1, func(i0, i1 int) {
		for i := i0; i < i1; i++ {
			dxi := dx[i*p.H*p.W : (i+1)*p.H*p.W]
			for o := 0; o < p.Cout; o++ {
				dyo := dy[o*oh*ow : (o+1)*oh*ow]
				for ky := 0; ky < p.KH; ky++ {
					oy0, oy1 := validRange(oh, p.H, p.Stride, ky, p.PadH)
					for kx := 0; kx < p.KW; kx++ {
						wv := w[((o*p.Cin+i)*p.KH+ky)*p.KW+kx]
						ox0, ox1 := validRange(ow, p.W, p.Stride, kx, p.PadW)
						for oy := oy0; oy < oy1; oy++ {
							row := dxi[(oy*p.Stride+ky-p.PadH)*p.W:]
							dr := dyo[oy*ow : (oy+1)*ow]
							ix := ox0*p.Stride + kx - p.PadW
							for ox := ox0; ox < ox1; ox++ {
								row[ix] += wv * dr[ox]
								ix += p.Stride
							}
						}
					}
				}
			}
		}
	})
	return dx, nil
}
