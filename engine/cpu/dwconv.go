package cpu

import "github.com/slak-web/slak/engine/op"

// DWConv is the depthwise convolution (groups = C, cross-correlation):
//
//	y[c, oy, ox] = b[c] + Σ_{ky,kx} w[c, ky, kx] · x[c, oy·S+ky−PH, ox·S+kx−PW]
//
// with zero padding. x is [C, H, W], w is [C, KH, KW] (PyTorch's
// [C, 1, KH, KW]), b is [C] (nil when !p.Bias), y is [C, OutH, OutW]. The
// kernel may be rectangular and larger than the map (51×5 on 7×7): taps that
// fall in the padding are skipped. The sum runs over ky, then kx, in float32,
// starting from b[c].
func DWConv(x, w, b []float32, p op.DWConv) ([]float32, error) {
	const name = "dwconv"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := check(
		op.CheckLen(name, "x", len(x), p.C*p.H*p.W),
		op.CheckLen(name, "w", len(w), p.C*p.KH*p.KW),
	); err != nil {
		return nil, err
	}
	if p.Bias {
		if err := op.CheckLen(name, "b", len(b), p.C); err != nil {
			return nil, err
		}
	}
	oh, ow := p.OutH(), p.OutW()
	y := make([]float32, p.C*oh*ow) // [C, OutH, OutW]
	parallelFor(p.C, 1, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			dwPlane(y[c*oh*ow:(c+1)*oh*ow], x[c*p.H*p.W:(c+1)*p.H*p.W], w[c*p.KH*p.KW:(c+1)*p.KH*p.KW], p, oh, ow, p.Bias, b, c)
		}
	})
	return y, nil
}

// dwPlane accumulates one channel's depthwise convolution into yc
// [OutH, OutW], after setting it to b[c] when bias is set.
func dwPlane(yc, xc, wc []float32, p op.DWConv, oh, ow int, bias bool, b []float32, c int) {
	if bias {
		for j := range yc {
			yc[j] = b[c]
		}
	}
	for ky := 0; ky < p.KH; ky++ {
		oy0, oy1 := validRange(oh, p.H, p.Stride, ky, p.PadH)
		for kx := 0; kx < p.KW; kx++ {
			wv := wc[ky*p.KW+kx]
			ox0, ox1 := validRange(ow, p.W, p.Stride, kx, p.PadW)
			for oy := oy0; oy < oy1; oy++ {
				row := xc[(oy*p.Stride+ky-p.PadH)*p.W:]
				yr := yc[oy*ow : (oy+1)*ow]
				ix := ox0*p.Stride + kx - p.PadW
				for ox := ox0; ox < ox1; ox++ {
					yr[ox] += wv * row[ix]
					ix += p.Stride
				}
			}
		}
	}
}

// DWConvGradInput is the input gradient of DWConv:
//
//	dx[c, iy, ix] = Σ_{ky,kx : iy = oy·S+ky−PH, ix = ox·S+kx−PW} w[c, ky, kx] · dy[c, oy, ox]
//
// dy is [C, OutH, OutW], w is [C, KH, KW], dx is [C, H, W].
func DWConvGradInput(dy, w []float32, p op.DWConv) ([]float32, error) {
	const name = "dwconv"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	oh, ow := p.OutH(), p.OutW()
	if err := check(
		op.CheckLen(name, "dy", len(dy), p.C*oh*ow),
		op.CheckLen(name, "w", len(w), p.C*p.KH*p.KW),
	); err != nil {
		return nil, err
	}
	dx := make([]float32, p.C*p.H*p.W) // [C, H, W]
	parallelFor(p.C, 1, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			dxc := dx[c*p.H*p.W : (c+1)*p.H*p.W]
			dyc := dy[c*oh*ow : (c+1)*oh*ow]
			wc := w[c*p.KH*p.KW : (c+1)*p.KH*p.KW]
			for ky := 0; ky < p.KH; ky++ {
				oy0, oy1 := validRange(oh, p.H, p.Stride, ky, p.PadH)
				for kx := 0; kx < p.KW; kx++ {
					wv := wc[ky*p.KW+kx]
					ox0, ox1 := validRange(ow, p.W, p.Stride, kx, p.PadW)
					for oy := oy0; oy < oy1; oy++ {
						row := dxc[(oy*p.Stride+ky-p.PadH)*p.W:]
						dr := dyc[oy*ow : (oy+1)*ow]
						ix := ox0*p.Stride + kx - p.PadW
						for ox := ox0; ox < ox1; ox++ {
							row[ix] += wv * dr[ox]
							ix += p.Stride
						}
					}
				}
			}
		}
	})
	return dx, nil
}
