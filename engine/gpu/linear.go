package gpu

import "github.com/slak-web/slak/engine/op"

// Linear implements op.Backend with wgsl/linear.wgsl (direct kernel, one thread per output).
//
//	y[o,p] = b[o] + Σ_i W[o,i] · x[i,p]
func (b *Backend) Linear(x, w, bias op.Tensor, p op.Linear) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "linear"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	xt, err := b.arg(name, "x", x, p.In*p.HW)
	if err != nil {
		return nil, err
	}
	wt, err := b.argHalf(name, "w", w, p.Out*p.In) // a half W is read as it is (half.go)
	if err != nil {
		return nil, err
	}
	var bt *Tensor
	if p.Bias {
		if bt, err = b.arg(name, "b", bias, p.Out); err != nil {
			return nil, err
		}
	}
	if y, ok, err := b.linearFastLocked(xt, wt, bt, p); ok {
		return y, err
	}
	return b.linearDirect(xt, wt, bt, p)
}

// linearDirect records linear.wgsl with W's binding from halfW (b.mu held).
func (b *Backend) linearDirect(xt, wt0, bt *Tensor, p op.Linear) (*Tensor, error) {
	wt, subst, err := b.halfW("linear", wt0, "wt", false)
	if err != nil {
		return nil, err
	}
	subst["BIAS"] = biasSubst(p.Bias)["BIAS"]
	y, retry, err := b.runHalf("linear", "linear", subst, linearParams{u(p.In), u(p.Out), u(p.HW)}, []*Tensor{xt, wt, bt}, b.grid1D(p.Out*p.HW, 256), p.Out, p.HW)
	if retry { // the device rejected `enable f16;`: again with the u32 words
		return b.linearDirect(xt, wt0, bt, p)
	}
	return y, err
}

// LinearGradInput implements op.Backend with wgsl/linear_grad.wgsl.
//
//	dx[i,p] = Σ_o W[o,i] · dy[o,p]
func (b *Backend) LinearGradInput(dy, w op.Tensor, p op.Linear) (op.Tensor, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	const name = "linear_grad"
	if err := p.Validate(); err != nil {
		return nil, err
	}
	dyt, err := b.arg(name, "dy", dy, p.Out*p.HW)
	if err != nil {
		return nil, err
	}
	wt, err := b.arg(name, "w", w, p.Out*p.In)
	if err != nil {
		return nil, err
	}
	return b.run(name, "linear_grad", nil, linearParams{u(p.In), u(p.Out), u(p.HW)}, []*Tensor{dyt, wt}, b.grid1D(p.In*p.HW, 256), p.In, p.HW)
}
