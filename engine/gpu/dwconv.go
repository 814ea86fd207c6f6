package gpu

import "github.com/slak-web/slak/engine/op"

func dwParamsOf(p op.DWConv) dwParams {
	return dwParams{
		C: u(p.C), H: u(p.H), W: u(p.W), KH: u(p.KH), KW: u(p.KW), Stride: u(p.Stride),
		PadH: u(p.PadH), PadW: u(p.PadW), OutH: u(p.OutH()), OutW: u(p.OutW()),
	}
}

// DWConv implements op.Backend with wgsl/dwconv.wgsl (direct kernel, clipped tap loops).
//
//	y[c,oy,ox] = b[c] + Σ_{ky,kx} w[c,ky,kx] · x[c, oy·S+ky−PH, ox·S+kx−PW]
func (b *Backend) DWConv(x, w, bias op.Tensor, p op.DWConv) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "dwconv"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	xt, err := b.arg(name, "x", x, p.C*p.H*p.W)
	if err != nil {
		return nil, err
	}
	wt, err := b.arg(name, "w", w, p.C*p.KH*p.KW)
	if err != nil {
		return nil, err
	}
	var bt *Tensor
	if p.Bias {
		if bt, err = b.arg(name, "b", bias, p.C); err != nil {
			return nil, err
		}
	}
	if y, ok, err := b.dwconvFastLocked(xt, wt, bt, p); ok {
		return y, err
	}
	oh, ow := p.OutH(), p.OutW()
	grid := [3]uint32{u(ceilDiv(ow, 8)), u(ceilDiv(oh, 8)), u(p.C)}
	return b.run(name, "dwconv", biasSubst(p.Bias), dwParamsOf(p), []*Tensor{xt, wt, bt}, grid, p.C, oh, ow)
}

// DWConvGradInput implements op.Backend with wgsl/dwconv_grad.wgsl.
//
//	dx[c,iy,ix] = Σ_{ky,kx : oy·S+ky−PH = iy, ox·S+kx−PW = ix} w[c,ky,kx] · dy[c,oy,ox]
func (b *Backend) DWConvGradInput(dy, w op.Tensor, p op.DWConv) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "dwconv_grad"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	dyt, err := b.arg(name, "dy", dy, p.C*p.OutH()*p.OutW())
	if err != nil {
		return nil, err
	}
	wt, err := b.arg(name, "w", w, p.C*p.KH*p.KW)
	if err != nil {
		return nil, err
	}
	grid := [3]uint32{u(ceilDiv(p.W, 8)), u(ceilDiv(p.H, 8)), u(p.C)}
	return b.run(name, "dwconv_grad", nil, dwParamsOf(p), []*Tensor{dyt, wt}, grid, p.C, p.H, p.W)
}
