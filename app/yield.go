package main

import (
	"time"

	"github.com/slak-web/slak/engine/op"
)

// yieldBackend wraps the CPU reference so each op first sleeps a
// millisecond: in Go wasm (one thread) only time.Sleep hands the event loop
// back to the browser (trap 7), so the page stays responsive between ops.
type yieldBackend struct{ b op.Backend }

func yield() { time.Sleep(time.Millisecond) }

func (y yieldBackend) Name() string { return y.b.Name() }
func (y yieldBackend) Upload(d []float32, s ...int) (op.Tensor, error) {
	return y.b.Upload(d, s...)
}
func (y yieldBackend) Download(t op.Tensor) ([]float32, error) { return y.b.Download(t) }
func (y yieldBackend) Free(t op.Tensor)                        { y.b.Free(t) }
func (y yieldBackend) Conv2D(x, w, b op.Tensor, p op.Conv2D) (op.Tensor, error) {
	yield()
	if p.Validate() != nil || p.Cout*p.Cin*p.KH*p.KW*p.OutH()*p.OutW() <= chunkMACs {
		return y.b.Conv2D(x, w, b, p)
	}
	// Output channels [o0, o1) come from w[o0:o1] and b[o0:o1].
	return y.byOutput("conv2d", w, b, p.Bias, p.Cout, p.Cin*p.KH*p.KW, p.Cin*p.KH*p.KW*p.OutH()*p.OutW(), []int{p.OutH(), p.OutW()},
		func(wt, bt op.Tensor, first, n int) (op.Tensor, error) {
			q := p
			q.Cout = n
			return y.b.Conv2D(x, wt, bt, q)
		})
}

func (y yieldBackend) Conv2DGradInput(dy, w op.Tensor, p op.Conv2D) (op.Tensor, error) {
	yield()
	return y.b.Conv2DGradInput(dy, w, p)
}
func (y yieldBackend) DWConv(x, w, b op.Tensor, p op.DWConv) (op.Tensor, error) {
	yield()
	if p.C*p.OutH()*p.OutW()*p.KH*p.KW <= chunkMACs || p.Validate() != nil {
		return y.b.DWConv(x, w, b, p)
	}
	// Channels [c0, c1) of x, w and b give channels [c0, c1) of y.
	xd, err := y.b.Download(x)
	if err != nil {
		return nil, err
	}
	if err := op.CheckLen("dwconv", "x", len(xd), p.C*p.H*p.W); err != nil {
		return nil, err
	}
	return y.byOutput("dwconv", w, b, p.Bias, p.C, p.KH*p.KW, p.OutH()*p.OutW()*p.KH*p.KW, []int{p.OutH(), p.OutW()},
		func(wt, bt op.Tensor, first, n int) (op.Tensor, error) {
			xt, err := y.b.Upload(xd[first*p.H*p.W:(first+n)*p.H*p.W], n, p.H, p.W)
			if err != nil {
				return nil, err
			}
			defer y.b.Free(xt)
			q := p
			q.C = n
			return y.b.DWConv(xt, wt, bt, q)
		})
}

func (y yieldBackend) DWConvGradInput(dy, w op.Tensor, p op.DWConv) (op.Tensor, error) {
	yield()
	return y.b.DWConvGradInput(dy, w, p)
}
func (y yieldBackend) LayerNorm(x, g, b op.Tensor, p op.LayerNorm) (op.Tensor, error) {
	yield()
	return y.b.LayerNorm(x, g, b, p)
}
func (y yieldBackend) LayerNormGradInput(x, g, dy op.Tensor, p op.LayerNorm) (op.Tensor, error) {
	yield()
	return y.b.LayerNormGradInput(x, g, dy, p)
}
func (y yieldBackend) BatchNorm(x, m, v, g, b op.Tensor, p op.BatchNorm) (op.Tensor, error) {
	yield()
	return y.b.BatchNorm(x, m, v, g, b, p)
}
func (y yieldBackend) BatchNormGradInput(dy, v, g op.Tensor, p op.BatchNorm) (op.Tensor, error) {
	yield()
	return y.b.BatchNormGradInput(dy, v, g, p)
}
func (y yieldBackend) Linear(x, w, b op.Tensor, p op.Linear) (op.Tensor, error) {
	yield()
	if p.In*p.Out*p.HW <= chunkMACs || p.Validate() != nil {
		return y.b.Linear(x, w, b, p)
	}
	// Rows [o0, o1) of W and b give rows [o0, o1) of y [Out, HW].
	return y.byOutput("linear", w, b, p.Bias, p.Out, p.In, p.In*p.HW, []int{p.HW},
		func(wt, bt op.Tensor, first, n int) (op.Tensor, error) {
			q := p
			q.Out = n
			return y.b.Linear(x, wt, bt, q)
		})
}

func (y yieldBackend) LinearGradInput(dy, w op.Tensor, p op.Linear) (op.Tensor, error) {
	yield()
	return y.b.LinearGradInput(dy, w, p)
}
func (y yieldBackend) GELU(x op.Tensor, p op.Elementwise) (op.Tensor, error) {
	yield()
	return y.b.GELU(x, p)
}
func (y yieldBackend) GELUGradInput(x, dy op.Tensor, p op.Elementwise) (op.Tensor, error) {
	yield()
	return y.b.GELUGradInput(x, dy, p)
}
func (y yieldBackend) ReLU(x op.Tensor, p op.Elementwise) (op.Tensor, error) {
	yield()
	return y.b.ReLU(x, p)
}
func (y yieldBackend) ReLUGradInput(x, dy op.Tensor, p op.Elementwise) (op.Tensor, error) {
	yield()
	return y.b.ReLUGradInput(x, dy, p)
}
func (y yieldBackend) Add(a, b op.Tensor, p op.Elementwise) (op.Tensor, error) {
	yield()
	return y.b.Add(a, b, p)
}
func (y yieldBackend) AddGradInput(dy op.Tensor, p op.Elementwise) (op.Tensor, error) {
	yield()
	return y.b.AddGradInput(dy, p)
}
func (y yieldBackend) ScaleResidual(x, r, g op.Tensor, p op.ScaleResidual) (op.Tensor, error) {
	yield()
	return y.b.ScaleResidual(x, r, g, p)
}
func (y yieldBackend) ScaleResidualGradInput(dy, g op.Tensor, p op.ScaleResidual) (op.Tensor, error) {
	yield()
	return y.b.ScaleResidualGradInput(dy, g, p)
}
func (y yieldBackend) AvgPool(x op.Tensor, p op.AvgPool) (op.Tensor, error) {
	yield()
	return y.b.AvgPool(x, p)
}
func (y yieldBackend) AvgPoolGradInput(dy op.Tensor, p op.AvgPool) (op.Tensor, error) {
	yield()
	return y.b.AvgPoolGradInput(dy, p)
}
func (y yieldBackend) Softmax(x op.Tensor, p op.Softmax) (op.Tensor, error) {
	yield()
	return y.b.Softmax(x, p)
}
func (y yieldBackend) SoftmaxGradInput(yt, dy op.Tensor, p op.Softmax) (op.Tensor, error) {
	yield()
	return y.b.SoftmaxGradInput(yt, dy, p)
}

var _ op.Backend = yieldBackend{}

// chunkMACs bounds the work between two yields: about 0.1–0.2 s of the CPU
// reference in Go wasm (measured: SLaK-T's largest single op, 195 M MAC,
// stalled the page for 7 s before ops were split).
const chunkMACs = 4_000_000

// byOutput runs an op whose output rows (channels) depend only on the same
// rows of w ([rows, per]) and b ([rows]): it splits the rows into chunks of
// at most chunkMACs work (macsPerRow each), yields between chunks, and
// concatenates the chunk outputs into [rows, tail...]. Every output value is
// computed by the same loop as without chunking.
func (y yieldBackend) byOutput(name string, w, b op.Tensor, bias bool, rows, per, macsPerRow int, tail []int,
	run func(wt, bt op.Tensor, first, n int) (op.Tensor, error)) (op.Tensor, error) {
	wd, err := y.b.Download(w)
	if err != nil {
		return nil, err
	}
	if err := op.CheckLen(name, "w", len(wd), rows*per); err != nil {
		return nil, err
	}
	var bd []float32
	if bias {
		if bd, err = y.b.Download(b); err != nil {
			return nil, err
		}
		if err := op.CheckLen(name, "b", len(bd), rows); err != nil {
			return nil, err
		}
	}
	step := max(1, chunkMACs/max(1, macsPerRow))
	var out []float32
	for r0 := 0; r0 < rows; r0 += step {
		n := min(step, rows-r0)
		wt, err := y.b.Upload(wd[r0*per:(r0+n)*per], n, per)
		if err != nil {
			return nil, err
		}
		var bt op.Tensor
		if bias {
			if bt, err = y.b.Upload(bd[r0:r0+n], n); err != nil {
				y.b.Free(wt)
				return nil, err
			}
		}
		yt, err := run(wt, bt, r0, n)
		y.b.Free(wt)
		y.b.Free(bt)
		if err != nil {
			return nil, err
		}
		d, err := y.b.Download(yt)
		y.b.Free(yt)
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
		yield()
	}
	return y.b.Upload(out, append([]int{rows}, tail...)...)
}
