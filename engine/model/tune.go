package model

import (
	"errors"
	"fmt"

	"github.com/slak-web/slak/engine/op"
)

// LayerConfig is one distinct configuration of the layers whose kernel a backend may choose at
// run time (engine/gpu's Backend.Tune): a depthwise branch set (Kind "dwconv", one branch with
// its Bias flag; "dwconvsum", the fused branches) or a pointwise GEMM (Kind "lnlineargelu",
// "linearscaleresidual", "linear").
type LayerConfig struct {
	Kind  string
	Name  string // the forward segment of the first layer with this configuration
	Count int    // layers of one forward that share it
	DW    []op.DWConv
	// Weights are the first such layer's depthwise weights (the Net's own tensors, one per
	// branch), so that a tuner times the network's real sparsity.
	Weights []op.Tensor
	Lin     op.Linear
}

// Configs lists the distinct depthwise and pointwise configurations of one forward at h×w, in
// the order the forward meets them. It runs the forward on a shape-only recorder (no kernel
// runs, nothing is computed or allocated on the Net's backend), so it follows exactly the
// dispatches Forward would make, fused or not (UseFused).
func (n *Net) Configs(h, w int) ([]LayerConfig, error) {
	if n == nil || n.b == nil {
		return nil, errors.New("model: net is not loaded (or was freed)")
	}
	r := &recorder{index: map[string]int{}}
	m := *n
	m.b, m.LogitsOnly, m.FlushEvery = r, true, 0
	if n.fused != nil {
		m.fused = r
	}
	segs, err := m.plan(h, w)
	if err != nil {
		return nil, err
	}
	x := &shapeT{shape: []int{3, h, w}}
	cur := op.Tensor(x)
	for i, sg := range segs {
		r.seg = sg.name
		y, err := sg.fwd(cur)
		if err != nil {
			return nil, fmt.Errorf("model: %s configs, %s (segment %d): %w", n.V.Name, sg.name, i, err)
		}
		cur = y
	}
	r.seg = "head"
	if _, err := m.head(cur, segs[len(segs)-1].out); err != nil {
		return nil, fmt.Errorf("model: %s configs, head: %w", n.V.Name, err)
	}
	return r.out, nil
}

// shapeT is the recorder's tensor: a shape and no data.
type shapeT struct{ shape []int }

func (t *shapeT) Shape() []int { return append([]int(nil), t.shape...) }
func (t *shapeT) Len() int {
	n := 1
	for _, d := range t.shape {
		n *= d
	}
	return n
}

// recorder implements op.Backend and op.Fused on shapes only, recording the depthwise and
// pointwise configurations it is asked to run.
type recorder struct {
	seg   string
	out   []LayerConfig
	index map[string]int
}

var errNoGrad = errors.New("model: the config recorder runs forwards only")

func (r *recorder) add(key string, c LayerConfig) {
	if i, ok := r.index[key]; ok {
		r.out[i].Count++
		return
	}
	c.Name, c.Count = r.seg, 1
	r.index[key] = len(r.out)
	r.out = append(r.out, c)
}

func dwKey(kind string, ps []op.DWConv) string { return fmt.Sprintf("%s %v", kind, ps) }

func sh(d ...int) *shapeT { return &shapeT{shape: d} }

func (r *recorder) Name() string { return "config-recorder" }
func (r *recorder) Upload(data []float32, shape ...int) (op.Tensor, error) {
	return sh(shape...), nil
}
func (r *recorder) Download(t op.Tensor) ([]float32, error) { return make([]float32, t.Len()), nil }
func (r *recorder) Free(op.Tensor)                          {}

func (r *recorder) Conv2D(x, w, b op.Tensor, p op.Conv2D) (op.Tensor, error) {
	return sh(p.Cout, p.OutH(), p.OutW()), p.Validate()
}
func (r *recorder) DWConv(x, w, b op.Tensor, p op.DWConv) (op.Tensor, error) {
	ps := []op.DWConv{p}
	r.add(dwKey("dwconv", ps), LayerConfig{Kind: "dwconv", DW: ps, Weights: []op.Tensor{w}})
	return sh(p.C, p.OutH(), p.OutW()), p.Validate()
}
func (r *recorder) LayerNorm(x, g, b op.Tensor, p op.LayerNorm) (op.Tensor, error) {
	return sh(x.Shape()...), nil
}
func (r *recorder) BatchNorm(x, m, v, g, b op.Tensor, p op.BatchNorm) (op.Tensor, error) {
	return sh(x.Shape()...), nil
}
func (r *recorder) Linear(x, w, b op.Tensor, p op.Linear) (op.Tensor, error) {
	r.add(fmt.Sprintf("linear %v", p), LayerConfig{Kind: "linear", Lin: p})
	return sh(p.Out, p.HW), p.Validate()
}
func (r *recorder) GELU(x op.Tensor, p op.Elementwise) (op.Tensor, error) {
	return sh(x.Shape()...), nil
}
func (r *recorder) ReLU(x op.Tensor, p op.Elementwise) (op.Tensor, error) {
	return sh(x.Shape()...), nil
}
func (r *recorder) Add(a, b op.Tensor, p op.Elementwise) (op.Tensor, error) {
	return sh(a.Shape()...), nil
}
func (r *recorder) ScaleResidual(x, res, g op.Tensor, p op.ScaleResidual) (op.Tensor, error) {
	return sh(x.Shape()...), nil
}
func (r *recorder) AvgPool(x op.Tensor, p op.AvgPool) (op.Tensor, error) { return sh(p.C, 1), nil }
func (r *recorder) Softmax(x op.Tensor, p op.Softmax) (op.Tensor, error) {
	return sh(x.Shape()...), nil
}

func (r *recorder) LNLinearGELU(x, g, be, w, b op.Tensor, ln op.LayerNorm, lin op.Linear) (op.Tensor, error) {
	r.add(fmt.Sprintf("lnlineargelu %v", lin), LayerConfig{Kind: "lnlineargelu", Lin: lin})
	return sh(lin.Out, lin.HW), lin.Validate()
}
func (r *recorder) LinearScaleResidual(h, w, b, g, x op.Tensor, lin op.Linear) (op.Tensor, error) {
	r.add(fmt.Sprintf("linearscaleresidual %v", lin), LayerConfig{Kind: "linearscaleresidual", Lin: lin})
	return sh(lin.Out, lin.HW), lin.Validate()
}
func (r *recorder) DWConvSum(x op.Tensor, ws []op.Tensor, bias op.Tensor, ps []op.DWConv) (op.Tensor, error) {
	if len(ps) == 0 {
		return nil, errors.New("model: DWConvSum without branches")
	}
	r.add(dwKey("dwconvsum", ps), LayerConfig{Kind: "dwconvsum", DW: append([]op.DWConv(nil), ps...), Weights: append([]op.Tensor(nil), ws...)})
	return sh(ps[0].C, ps[0].OutH(), ps[0].OutW()), nil
}

func (r *recorder) Conv2DGradInput(dy, w op.Tensor, p op.Conv2D) (op.Tensor, error) {
	return nil, errNoGrad
}
func (r *recorder) DWConvGradInput(dy, w op.Tensor, p op.DWConv) (op.Tensor, error) {
	return nil, errNoGrad
}
func (r *recorder) LayerNormGradInput(x, g, dy op.Tensor, p op.LayerNorm) (op.Tensor, error) {
	return nil, errNoGrad
}
func (r *recorder) BatchNormGradInput(dy, v, g op.Tensor, p op.BatchNorm) (op.Tensor, error) {
	return nil, errNoGrad
}
func (r *recorder) LinearGradInput(dy, w op.Tensor, p op.Linear) (op.Tensor, error) {
	return nil, errNoGrad
}
func (r *recorder) GELUGradInput(x, dy op.Tensor, p op.Elementwise) (op.Tensor, error) {
	return nil, errNoGrad
}
func (r *recorder) ReLUGradInput(x, dy op.Tensor, p op.Elementwise) (op.Tensor, error) {
	return nil, errNoGrad
}
func (r *recorder) AddGradInput(dy op.Tensor, p op.Elementwise) (op.Tensor, error) {
	return nil, errNoGrad
}
func (r *recorder) ScaleResidualGradInput(dy, g op.Tensor, p op.ScaleResidual) (op.Tensor, error) {
	return nil, errNoGrad
}
func (r *recorder) AvgPoolGradInput(dy op.Tensor, p op.AvgPool) (op.Tensor, error) {
	return nil, errNoGrad
}
func (r *recorder) SoftmaxGradInput(y, dy op.Tensor, p op.Softmax) (op.Tensor, error) {
	return nil, errNoGrad
}
