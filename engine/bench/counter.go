package bench

import (
	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/op"
)

// counter wraps the GPU backend for a whole forward and adds up the dense multiply–accumulates
// of the convolution and pointwise layers (the FLOP count of a forward row). It forwards op.Fused
// so the model takes the same fused path as on the bare backend. It also submits the recorded
// work after every such layer (Flush): a whole 224² forward recorded into one command buffer
// crashed lavapipe (SIGSEGV in its queue thread, engine/gpu issue being fixed as of this writing);
// the submit per layer is the same for the fast and the direct runs.
type counter struct {
	*gpu.Backend
	macs float64
}

func (c *counter) done(t op.Tensor, err error) (op.Tensor, error) {
	if err != nil {
		return nil, err
	}
	if err := c.Backend.Flush(); err != nil {
		c.Backend.Free(t)
		return nil, err
	}
	return t, nil
}

var (
	_ op.Backend = (*counter)(nil)
	_ op.Fused   = (*counter)(nil)
)

func (c *counter) Conv2D(x, w, b op.Tensor, p op.Conv2D) (op.Tensor, error) {
	c.macs += float64(p.Cout * p.OutH() * p.OutW() * p.Cin * p.KH * p.KW)
	return c.done(c.Backend.Conv2D(x, w, b, p))
}

func (c *counter) DWConv(x, w, b op.Tensor, p op.DWConv) (op.Tensor, error) {
	c.macs += float64(p.C * p.OutH() * p.OutW() * p.KH * p.KW)
	return c.done(c.Backend.DWConv(x, w, b, p))
}

func (c *counter) Linear(x, w, b op.Tensor, p op.Linear) (op.Tensor, error) {
	c.macs += float64(p.Out * p.In * p.HW)
	return c.done(c.Backend.Linear(x, w, b, p))
}

func (c *counter) LNLinearGELU(x, gamma, beta, w, b op.Tensor, ln op.LayerNorm, lin op.Linear) (op.Tensor, error) {
	c.macs += float64(lin.Out * lin.In * lin.HW)
	return c.done(c.Backend.LNLinearGELU(x, gamma, beta, w, b, ln, lin))
}

func (c *counter) LinearScaleResidual(h, w, b, gamma, x op.Tensor, lin op.Linear) (op.Tensor, error) {
	c.macs += float64(lin.Out * lin.In * lin.HW)
	return c.done(c.Backend.LinearScaleResidual(h, w, b, gamma, x, lin))
}

func (c *counter) DWConvSum(x op.Tensor, ws []op.Tensor, bias op.Tensor, ps []op.DWConv) (op.Tensor, error) {
	for _, p := range ps {
		c.macs += float64(p.C * p.OutH() * p.OutW() * p.KH * p.KW)
	}
	return c.done(c.Backend.DWConvSum(x, ws, bias, ps))
}
