package gpu

import "github.com/slak-web/slak/engine/op"

func convParamsOf(q op.Conv2D) convParams {
	return convParams{
		Cin: u(q.Cin), H: u(q.H), W: u(q.W), Cout: u(q.Cout), KH: u(q.KH), KW: u(q.KW), Stride: u(q.Stride),
		PadH: u(q.PadH), PadW: u(q.PadW), OutH: u(q.OutH()), OutW: u(q.OutW()),
	}
}

func u(v int) uint32 { return uint32(v) }

// Conv2D implements op.Backend with wgsl/conv2d.wgsl (direct kernel, one thread per output).
//
//	y[o,oy,ox] = b[o] + Σ_{i,ky,kx} w[o,i,ky,kx] · x[i, oy·S+ky−PH, ox·S+kx−PW]
func (b *Backend) Conv2D(x, w, bias op.Tensor, p op.Conv2D) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "conv2d"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	xt, err := b.arg(name, "x", x, p.Cin*p.H*p.W)
	if err != nil {
		return nil, err
	}
	wt, err := b.argHalf(name, "w", w, p.Cout*p.Cin*p.KH*p.KW) // the fast path reads a half W as it is
	if err != nil {
		return nil, err
	}
	var bt *Tensor
	if p.Bias {
		if bt, err = b.arg(name, "b", bias, p.Cout); err != nil {
			return nil, err
		}
	}
	if y, ok, err := b.conv2dFastLocked(xt, wt, bt, p); ok {
		return y, err
	}
	if wt.half { // conv2d.wgsl binds f32
		if wt, err = b.expand(name, wt); err != nil {
			return nil, err
		}
	}
	oh, ow := p.OutH(), p.OutW()
	grid := [3]uint32{u(ceilDiv(ow, 8)), u(ceilDiv(oh, 8)), u(p.Cout)}
	return b.run(name, "conv2d", biasSubst(p.Bias), convParamsOf(p), []*Tensor{xt, wt, bt}, grid, p.Cout, oh, ow)
}

// Conv2DGradInput implements op.Backend with wgsl/conv2d_grad.wgsl (a transposed convolution: the
// stride-dilated dy correlated with the 180°-rotated kernel).
//
//	dx[i,iy,ix] = Σ_{o,ky,kx : oy·S+ky−PH = iy, ox·S+kx−PW = ix} w[o,i,ky,kx] · dy[o,oy,ox]
func (b *Backend) Conv2DGradInput(dy, w op.Tensor, p op.Conv2D) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "conv2d_grad"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	dyt, err := b.arg(name, "dy", dy, p.Cout*p.OutH()*p.OutW())
	if err != nil {
		return nil, err
	}
	wt, err := b.arg(name, "w", w, p.Cout*p.Cin*p.KH*p.KW)
	if err != nil {
		return nil, err
	}
	grid := [3]uint32{u(ceilDiv(p.W, 8)), u(ceilDiv(p.H, 8)), u(p.Cin)}
	return b.run(name, "conv2d_grad", nil, convParamsOf(p), []*Tensor{dyt, wt}, grid, p.Cin, p.H, p.W)
}
