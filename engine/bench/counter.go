package bench

import (
	"time"

	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/op"
)

// counter wraps the GPU backend for a whole forward and adds up the dense multiply–accumulates
// of the convolution and pointwise layers (the FLOP count of a forward row). It forwards op.Fused
// so the model takes the same fused path as on the bare backend. It also submits the recorded
// work after every such layer (Flush), the same for the fast and the direct runs, and adds up the
// wall time from each such call to the end of its submit by op kind (ms; the unflushed
// elementwise ops in between are charged to the next counted op): where a whole forward spends
// its time. (The submit per layer was first a workaround for a lavapipe crash on long submits,
// fixed in engine/gpu by dffd194; without it the SLaK-T forward measured the same within the
// machine's noise: 2.41 s vs 2.34–2.76 s.)
type counter struct {
	*gpu.Backend
	macs float64
	ms   map[string]float64
}

func (c *counter) done(kind string, t0 time.Time, t op.Tensor, err error) (op.Tensor, error) {
	if err != nil {
		return nil, err
	}
	err = c.Backend.Flush()
	if c.ms == nil {
		c.ms = map[string]float64{}
	}
	c.ms[kind] += float64(time.Since(t0).Nanoseconds()) / 1e6
	if err != nil {
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
	t0 := time.Now()
	c.macs += float64(p.Cout * p.OutH() * p.OutW() * p.Cin * p.KH * p.KW)
	y, err := c.Backend.Conv2D(x, w, b, p)
	return c.done("conv2d", t0, y, err)
}

func (c *counter) DWConv(x, w, b op.Tensor, p op.DWConv) (op.Tensor, error) {
	t0 := time.Now()
	c.macs += float64(p.C * p.OutH() * p.OutW() * p.KH * p.KW)
	y, err := c.Backend.DWConv(x, w, b, p)
	return c.done("dwconv", t0, y, err)
}

func (c *counter) Linear(x, w, b op.Tensor, p op.Linear) (op.Tensor, error) {
	t0 := time.Now()
	c.macs += float64(p.Out * p.In * p.HW)
	y, err := c.Backend.Linear(x, w, b, p)
	return c.done("linear", t0, y, err)
}

func (c *counter) LNLinearGELU(x, gamma, beta, w, b op.Tensor, ln op.LayerNorm, lin op.Linear) (op.Tensor, error) {
	t0 := time.Now()
	c.macs += float64(lin.Out * lin.In * lin.HW)
	y, err := c.Backend.LNLinearGELU(x, gamma, beta, w, b, ln, lin)
	return c.done("lnlineargelu", t0, y, err)
}

func (c *counter) LinearScaleResidual(h, w, b, gamma, x op.Tensor, lin op.Linear) (op.Tensor, error) {
	t0 := time.Now()
	c.macs += float64(lin.Out * lin.In * lin.HW)
	y, err := c.Backend.LinearScaleResidual(h, w, b, gamma, x, lin)
	return c.done("linearscaleresidual", t0, y, err)
}

func (c *counter) DWConvSum(x op.Tensor, ws []op.Tensor, bias op.Tensor, ps []op.DWConv) (op.Tensor, error) {
	t0 := time.Now()
	for _, p := range ps {
		c.macs += float64(p.C * p.OutH() * p.OutW() * p.KH * p.KW)
	}
	y, err := c.Backend.DWConvSum(x, ws, bias, ps)
	return c.done("dwconvsum", t0, y, err)
}
