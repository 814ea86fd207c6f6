package cpu

import (
	"fmt"

	"github.com/slak-web/slak/engine/op"
)

// Backend implements op.Backend and op.Fused over host slices by calling the
// plain functions of this package. Tensors are *Tensor values it created;
// tensors of another Backend value or another package are rejected.
type Backend struct {
	_ byte // non-zero size: distinct Backends have distinct addresses
}

var (
	_ op.Backend = (*Backend)(nil)
	_ op.Fused   = (*Backend)(nil)
)

// NewBackend returns a CPU reference backend.
func NewBackend() *Backend { return &Backend{} }

// Tensor is a host tensor owned by a Backend.
type Tensor struct {
	owner *Backend
	data  []float32 // len = product of shape
	shape []int
	freed bool
}

// Shape returns a copy of the logical shape.
func (t *Tensor) Shape() []int { return append([]int(nil), t.shape...) }

// Len returns the number of elements.
func (t *Tensor) Len() int { return len(t.data) }

// Name returns "cpu".
func (b *Backend) Name() string { return "cpu" }

// Upload copies data into a new tensor of the given shape. Every dimension
// must be positive and their product must equal len(data).
func (b *Backend) Upload(data []float32, shape ...int) (op.Tensor, error) {
	if len(shape) == 0 {
		return nil, fmt.Errorf("upload: %w: no shape", op.ErrShape)
	}
	n := 1
	for _, d := range shape {
		if d <= 0 {
			return nil, fmt.Errorf("upload: %w: shape %v has a dimension <= 0", op.ErrShape, shape)
		}
		n *= d
	}
	if n != len(data) {
		return nil, fmt.Errorf("upload: %w: shape %v holds %d elements, data has %d", op.ErrShape, shape, n, len(data))
	}
	return b.wrap(append([]float32(nil), data...), shape...), nil
}

func (b *Backend) wrap(data []float32, shape ...int) *Tensor {
	return &Tensor{owner: b, data: data, shape: append([]int(nil), shape...)}
}

// Download returns a copy of t's data.
func (b *Backend) Download(t op.Tensor) ([]float32, error) {
	d, err := b.get("download", "t", t, -1)
	if err != nil {
		return nil, err
	}
	return append([]float32(nil), d...), nil
}

// Free marks t freed and drops its data; later use is an error. Free(nil) and
// freeing a foreign tensor are no-ops.
func (b *Backend) Free(t op.Tensor) {
	if ct, ok := t.(*Tensor); ok && ct != nil && ct.owner == b {
		ct.freed = true
		ct.data = nil
	}
}

// get returns t's data after checking that t is a live tensor of b and, when
// want >= 0, that it has want elements.
func (b *Backend) get(opName, what string, t op.Tensor, want int) ([]float32, error) {
	if t == nil {
		return nil, fmt.Errorf("%s: %w: %s is nil", opName, op.ErrShape, what)
	}
	ct, ok := t.(*Tensor)
	if !ok || ct == nil {
		return nil, fmt.Errorf("%s: %s is a %T, not a cpu tensor", opName, what, t)
	}
	if ct.owner != b {
		return nil, fmt.Errorf("%s: %s belongs to another cpu backend", opName, what)
	}
	if ct.freed {
		return nil, fmt.Errorf("%s: %s was freed", opName, what)
	}
	if want >= 0 {
		if err := op.CheckLen(opName, what, len(ct.data), want); err != nil {
			return nil, err
		}
	}
	return ct.data, nil
}

// gets fetches several tensors without length checks (the plain functions
// check lengths); a nil entry in ts where optional[i] is set yields nil.
func (b *Backend) gets(opName string, names []string, ts []op.Tensor, optional []bool) ([][]float32, error) {
	out := make([][]float32, len(ts))
	for i, t := range ts {
		if optional != nil && optional[i] && t == nil {
			continue
		}
		d, err := b.get(opName, names[i], t, -1)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

func (b *Backend) result(y []float32, err error, shape ...int) (op.Tensor, error) {
	if err != nil {
		return nil, err
	}
	return b.wrap(y, shape...), nil
}

// Conv2D runs the package-level Conv2D; b must be nil when !p.Bias.
func (b *Backend) Conv2D(x, w, bias op.Tensor, p op.Conv2D) (op.Tensor, error) {
	d, err := b.gets("conv2d", []string{"x", "w", "b"}, []op.Tensor{x, w, bias}, []bool{false, false, !p.Bias})
	if err != nil {
		return nil, err
	}
	y, err := Conv2D(d[0], d[1], d[2], p)
	return b.result(y, err, p.Cout, p.OutH(), p.OutW())
}

func (b *Backend) Conv2DGradInput(dy, w op.Tensor, p op.Conv2D) (op.Tensor, error) {
	d, err := b.gets("conv2d", []string{"dy", "w"}, []op.Tensor{dy, w}, nil)
	if err != nil {
		return nil, err
	}
	dx, err := Conv2DGradInput(d[0], d[1], p)
	return b.result(dx, err, p.Cin, p.H, p.W)
}

// DWConv runs the package-level DWConv; b must be nil when !p.Bias.
func (b *Backend) DWConv(x, w, bias op.Tensor, p op.DWConv) (op.Tensor, error) {
	d, err := b.gets("dwconv", []string{"x", "w", "b"}, []op.Tensor{x, w, bias}, []bool{false, false, !p.Bias})
	if err != nil {
		return nil, err
	}
	y, err := DWConv(d[0], d[1], d[2], p)
	return b.result(y, err, p.C, p.OutH(), p.OutW())
}

func (b *Backend) DWConvGradInput(dy, w op.Tensor, p op.DWConv) (op.Tensor, error) {
	d, err := b.gets("dwconv", []string{"dy", "w"}, []op.Tensor{dy, w}, nil)
	if err != nil {
		return nil, err
	}
	dx, err := DWConvGradInput(d[0], d[1], p)
	return b.result(dx, err, p.C, p.H, p.W)
}

func (b *Backend) LayerNorm(x, gamma, beta op.Tensor, p op.LayerNorm) (op.Tensor, error) {
	d, err := b.gets("layernorm", []string{"x", "gamma", "beta"}, []op.Tensor{x, gamma, beta}, nil)
	if err != nil {
		return nil, err
	}
	y, err := LayerNorm(d[0], d[1], d[2], p)
	return b.result(y, err, p.C, p.HW)
}

func (b *Backend) LayerNormGradInput(x, gamma, dy op.Tensor, p op.LayerNorm) (op.Tensor, error) {
	d, err := b.gets("layernorm", []string{"x", "gamma", "dy"}, []op.Tensor{x, gamma, dy}, nil)
	if err != nil {
		return nil, err
	}
	dx, err := LayerNormGradInput(d[0], d[1], d[2], p)
	return b.result(dx, err, p.C, p.HW)
}

func (b *Backend) BatchNorm(x, mean, variance, gamma, beta op.Tensor, p op.BatchNorm) (op.Tensor, error) {
	d, err := b.gets("batchnorm", []string{"x", "mean", "variance", "gamma", "beta"}, []op.Tensor{x, mean, variance, gamma, beta}, nil)
	if err != nil {
		return nil, err
	}
	y, err := BatchNorm(d[0], d[1], d[2], d[3], d[4], p)
	return b.result(y, err, p.C, p.HW)
}

func (b *Backend) BatchNormGradInput(dy, variance, gamma op.Tensor, p op.BatchNorm) (op.Tensor, error) {
	d, err := b.gets("batchnorm", []string{"dy", "variance", "gamma"}, []op.Tensor{dy, variance, gamma}, nil)
	if err != nil {
		return nil, err
	}
	dx, err := BatchNormGradInput(d[0], d[1], d[2], p)
	return b.result(dx, err, p.C, p.HW)
}

// Linear runs the package-level Linear; b must be nil when !p.Bias.
func (b *Backend) Linear(x, w, bias op.Tensor, p op.Linear) (op.Tensor, error) {
	d, err := b.gets("linear", []string{"x", "w", "b"}, []op.Tensor{x, w, bias}, []bool{false, false, !p.Bias})
	if err != nil {
		return nil, err
	}
	y, err := Linear(d[0], d[1], d[2], p)
	return b.result(y, err, p.Out, p.HW)
}

func (b *Backend) LinearGradInput(dy, w op.Tensor, p op.Linear) (op.Tensor, error) {
	d, err := b.gets("linear", []string{"dy", "w"}, []op.Tensor{dy, w}, nil)
	if err != nil {
		return nil, err
	}
	dx, err := LinearGradInput(d[0], d[1], p)
	return b.result(dx, err, p.In, p.HW)
}

func (b *Backend) GELU(x op.Tensor, p op.Elementwise) (op.Tensor, error) {
	d, err := b.get("gelu", "x", x, -1)
	if err != nil {
		return nil, err
	}
	y, err := GELU(d, p)
	return b.result(y, err, x.Shape()...)
}

func (b *Backend) GELUGradInput(x, dy op.Tensor, p op.Elementwise) (op.Tensor, error) {
	d, err := b.gets("gelu", []string{"x", "dy"}, []op.Tensor{x, dy}, nil)
	if err != nil {
		return nil, err
	}
	dx, err := GELUGradInput(d[0], d[1], p)
	return b.result(dx, err, x.Shape()...)
}

func (b *Backend) ReLU(x op.Tensor, p op.Elementwise) (op.Tensor, error) {
	d, err := b.get("relu", "x", x, -1)
	if err != nil {
		return nil, err
	}
	y, err := ReLU(d, p)
	return b.result(y, err, x.Shape()...)
}

func (b *Backend) ReLUGradInput(x, dy op.Tensor, p op.Elementwise) (op.Tensor, error) {
	d, err := b.gets("relu", []string{"x", "dy"}, []op.Tensor{x, dy}, nil)
	if err != nil {
		return nil, err
	}
	dx, err := ReLUGradInput(d[0], d[1], p)
	return b.result(dx, err, x.Shape()...)
}

func (b *Backend) Add(x, y op.Tensor, p op.Elementwise) (op.Tensor, error) {
	d, err := b.gets("add", []string{"a", "b"}, []op.Tensor{x, y}, nil)
	if err != nil {
		return nil, err
	}
	s, err := Add(d[0], d[1], p)
	return b.result(s, err, x.Shape()...)
}

func (b *Backend) AddGradInput(dy op.Tensor, p op.Elementwise) (op.Tensor, error) {
	d, err := b.get("add", "dy", dy, -1)
	if err != nil {
		return nil, err
	}
	dx, err := AddGradInput(d, p)
	return b.result(dx, err, dy.Shape()...)
}

func (b *Backend) ScaleResidual(x, r, gamma op.Tensor, p op.ScaleResidual) (op.Tensor, error) {
	d, err := b.gets("scaleresidual", []string{"x", "r", "gamma"}, []op.Tensor{x, r, gamma}, nil)
	if err != nil {
		return nil, err
	}
	y, err := ScaleResidual(d[0], d[1], d[2], p)
	return b.result(y, err, x.Shape()...)
}

func (b *Backend) ScaleResidualGradInput(dy, gamma op.Tensor, p op.ScaleResidual) (op.Tensor, error) {
	d, err := b.gets("scaleresidual", []string{"dy", "gamma"}, []op.Tensor{dy, gamma}, nil)
	if err != nil {
		return nil, err
	}
	dr, err := ScaleResidualGradInput(d[0], d[1], p)
	return b.result(dr, err, dy.Shape()...)
}

func (b *Backend) AvgPool(x op.Tensor, p op.AvgPool) (op.Tensor, error) {
	d, err := b.get("avgpool", "x", x, -1)
	if err != nil {
		return nil, err
	}
	y, err := AvgPool(d, p)
	return b.result(y, err, p.C)
}

func (b *Backend) AvgPoolGradInput(dy op.Tensor, p op.AvgPool) (op.Tensor, error) {
	d, err := b.get("avgpool", "dy", dy, -1)
	if err != nil {
		return nil, err
	}
	dx, err := AvgPoolGradInput(d, p)
	return b.result(dx, err, p.C, p.HW)
}

func (b *Backend) Softmax(x op.Tensor, p op.Softmax) (op.Tensor, error) {
	d, err := b.get("softmax", "x", x, -1)
	if err != nil {
		return nil, err
	}
	y, err := Softmax(d, p)
	return b.result(y, err, p.N)
}

func (b *Backend) SoftmaxGradInput(y, dy op.Tensor, p op.Softmax) (op.Tensor, error) {
	d, err := b.gets("softmax", []string{"y", "dy"}, []op.Tensor{y, dy}, nil)
	if err != nil {
		return nil, err
	}
	dx, err := SoftmaxGradInput(d[0], d[1], p)
	return b.result(dx, err, p.N)
}
