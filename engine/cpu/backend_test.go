package cpu

import (
	"errors"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/slak-web/slak/engine/op"
)

type fakeTensor struct{}

func (fakeTensor) Shape() []int { return []int{1} }
func (fakeTensor) Len() int     { return 1 }

func up(t *testing.T, b *Backend, d []float32, shape ...int) op.Tensor {
	t.Helper()
	if d == nil {
		return nil
	}
	x, err := b.Upload(d, shape...)
	mustf(t, "upload", err)
	return x
}

func down(t *testing.T, b *Backend, name string, x op.Tensor, err error, shape ...int) []float32 {
	t.Helper()
	mustf(t, "backend "+name, err)
	if !slices.Equal(x.Shape(), shape) {
		t.Errorf("backend %s: shape %v, want %v", name, x.Shape(), shape)
	}
	d, err := b.Download(x)
	mustf(t, "download "+name, err)
	return d
}

func same(t *testing.T, name string, got, want []float32) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("backend %s: differs from the plain function", name)
	}
}

// Every Backend method gives bit-for-bit the plain function's result.
func TestBackendConformance(t *testing.T) {
	r := rand.New(rand.NewSource(20))
	b := NewBackend()
	if b.Name() != "cpu" {
		t.Errorf("Name() = %q", b.Name())
	}

	cp := conv2dCases[1].p
	x, w, bias := conv2dInputs(r, cp)
	X, W, B := up(t, b, x, cp.Cin, cp.H, cp.W), up(t, b, w, cp.Cout, cp.Cin, cp.KH, cp.KW), up(t, b, bias, cp.Cout)
	want, _ := Conv2D(x, w, bias, cp)
	Y, err := b.Conv2D(X, W, B, cp)
	same(t, "conv2d", down(t, b, "conv2d", Y, err, cp.Cout, cp.OutH(), cp.OutW()), want)
	dy := randSlice(r, len(want), 1)
	DY := up(t, b, dy, cp.Cout, cp.OutH(), cp.OutW())
	want, _ = Conv2DGradInput(dy, w, cp)
	Y, err = b.Conv2DGradInput(DY, W, cp)
	same(t, "conv2d grad", down(t, b, "conv2d grad", Y, err, cp.Cin, cp.H, cp.W), want)

	dp := dwconvCases[0].p
	x, w, _ = dwconvInputs(r, dp)
	X, W = up(t, b, x, dp.C, dp.H, dp.W), up(t, b, w, dp.C, dp.KH, dp.KW)
	want, _ = DWConv(x, w, nil, dp)
	Y, err = b.DWConv(X, W, nil, dp)
	same(t, "dwconv", down(t, b, "dwconv", Y, err, dp.C, dp.OutH(), dp.OutW()), want)
	dy = randSlice(r, len(want), 1)
	want, _ = DWConvGradInput(dy, w, dp)
	Y, err = b.DWConvGradInput(up(t, b, dy, dp.C, dp.OutH(), dp.OutW()), W, dp)
	same(t, "dwconv grad", down(t, b, "dwconv grad", Y, err, dp.C, dp.H, dp.W), want)

	lp := op.LayerNorm{C: 11, HW: 5, Eps: 1e-6}
	x, g, be := randSlice(r, 55, 1), randSlice(r, 11, 1), randSlice(r, 11, 1)
	X, G, BE := up(t, b, x, 11, 5), up(t, b, g, 11), up(t, b, be, 11)
	want, _ = LayerNorm(x, g, be, lp)
	Y, err = b.LayerNorm(X, G, BE, lp)
	same(t, "layernorm", down(t, b, "layernorm", Y, err, 11, 5), want)
	dy = randSlice(r, 55, 1)
	DY = up(t, b, dy, 11, 5)
	want, _ = LayerNormGradInput(x, g, dy, lp)
	Y, err = b.LayerNormGradInput(X, G, DY, lp)
	same(t, "layernorm grad", down(t, b, "layernorm grad", Y, err, 11, 5), want)

	bp := op.BatchNorm{C: 11, HW: 5, Eps: 1e-5}
	m, v := randSlice(r, 11, 1), randSlice(r, 11, 1)
	for i := range v {
		v[i] = v[i]*v[i] + 0.1
	}
	M, V := up(t, b, m, 11), up(t, b, v, 11)
	want, _ = BatchNorm(x, m, v, g, be, bp)
	Y, err = b.BatchNorm(X, M, V, G, BE, bp)
	same(t, "batchnorm", down(t, b, "batchnorm", Y, err, 11, 5), want)
	want, _ = BatchNormGradInput(dy, v, g, bp)
	Y, err = b.BatchNormGradInput(DY, V, G, bp)
	same(t, "batchnorm grad", down(t, b, "batchnorm grad", Y, err, 11, 5), want)

	linp := op.Linear{In: 11, Out: 3, HW: 5, Bias: true}
	w, bias = randSlice(r, 33, 1), randSlice(r, 3, 1)
	W, B = up(t, b, w, 3, 11), up(t, b, bias, 3)
	want, _ = Linear(x, w, bias, linp)
	Y, err = b.Linear(X, W, B, linp)
	same(t, "linear", down(t, b, "linear", Y, err, 3, 5), want)
	dy3 := randSlice(r, 15, 1)
	want, _ = LinearGradInput(dy3, w, linp)
	Y, err = b.LinearGradInput(up(t, b, dy3, 3, 5), W, linp)
	same(t, "linear grad", down(t, b, "linear grad", Y, err, 11, 5), want)

	ep := op.Elementwise{N: 55}
	want, _ = GELU(x, ep)
	Y, err = b.GELU(X, ep)
	same(t, "gelu", down(t, b, "gelu", Y, err, 11, 5), want)
	want, _ = GELUGradInput(x, dy, ep)
	Y, err = b.GELUGradInput(X, DY, ep)
	same(t, "gelu grad", down(t, b, "gelu grad", Y, err, 11, 5), want)
	want, _ = ReLU(x, ep)
	Y, err = b.ReLU(X, ep)
	same(t, "relu", down(t, b, "relu", Y, err, 11, 5), want)
	want, _ = ReLUGradInput(x, dy, ep)
	Y, err = b.ReLUGradInput(X, DY, ep)
	same(t, "relu grad", down(t, b, "relu grad", Y, err, 11, 5), want)
	want, _ = Add(x, dy, ep)
	Y, err = b.Add(X, DY, ep)
	same(t, "add", down(t, b, "add", Y, err, 11, 5), want)
	Y, err = b.AddGradInput(DY, ep)
	same(t, "add grad", down(t, b, "add grad", Y, err, 11, 5), dy)

	sp := op.ScaleResidual{C: 11, HW: 5}
	want, _ = ScaleResidual(x, dy, g, sp)
	Y, err = b.ScaleResidual(X, DY, G, sp)
	same(t, "scaleresidual", down(t, b, "scaleresidual", Y, err, 11, 5), want)
	want, _ = ScaleResidualGradInput(dy, g, sp)
	Y, err = b.ScaleResidualGradInput(DY, G, sp)
	same(t, "scaleresidual grad", down(t, b, "scaleresidual grad", Y, err, 11, 5), want)

	ap := op.AvgPool{C: 11, HW: 5}
	want, _ = AvgPool(x, ap)
	Y, err = b.AvgPool(X, ap)
	same(t, "avgpool", down(t, b, "avgpool", Y, err, 11), want)
	want, _ = AvgPoolGradInput(g, ap)
	Y, err = b.AvgPoolGradInput(G, ap)
	same(t, "avgpool grad", down(t, b, "avgpool grad", Y, err, 11, 5), want)

	smp := op.Softmax{N: 11}
	ys, _ := Softmax(g, smp)
	Y, err = b.Softmax(G, smp)
	same(t, "softmax", down(t, b, "softmax", Y, err, 11), ys)
	want, _ = SoftmaxGradInput(ys, be, smp)
	Y, err = b.SoftmaxGradInput(up(t, b, ys, 11), BE, smp)
	same(t, "softmax grad", down(t, b, "softmax grad", Y, err, 11), want)

	// Upload copies; Download copies.
	src := []float32{1, 2, 3}
	T := up(t, b, src, 3)
	src[0] = 9
	d, _ := b.Download(T)
	d[1] = 9
	d2, _ := b.Download(T)
	if d2[0] != 1 || d2[1] != 2 {
		t.Errorf("upload/download alias the caller's slice: %v", d2)
	}
}

func TestBackendErrors(t *testing.T) {
	b := NewBackend()
	other := NewBackend()
	ep := op.Elementwise{N: 4}
	X := up(t, b, []float32{1, 2, 3, 4}, 4)
	freed := up(t, b, []float32{1, 2, 3, 4}, 4)
	b.Free(freed)
	b.Free(nil) // no-op
	foreign := up(t, other, []float32{1, 2, 3, 4}, 4)
	lp := op.LayerNorm{C: 2, HW: 2, Eps: 1e-6}
	two := up(t, b, []float32{1, 1}, 2)
	cases := []struct {
		name, opName string
		err          error
	}{
		{"upload zero size", "upload", func() error { _, e := b.Upload(nil, 0); return e }()},
		{"upload no shape", "upload", func() error { _, e := b.Upload([]float32{1}); return e }()},
		{"upload wrong len", "upload", func() error { _, e := b.Upload([]float32{1, 2}, 3); return e }()},
		{"download nil", "download", func() error { _, e := b.Download(nil); return e }()},
		{"download freed", "download", func() error { _, e := b.Download(freed); return e }()},
		{"gelu nil", "gelu", func() error { _, e := b.GELU(nil, ep); return e }()},
		{"gelu freed", "gelu", func() error { _, e := b.GELU(freed, ep); return e }()},
		{"gelu foreign backend", "gelu", func() error { _, e := b.GELU(foreign, ep); return e }()},
		{"gelu foreign type", "gelu", func() error { _, e := b.GELU(fakeTensor{}, ep); return e }()},
		{"gelu wrong N", "gelu", func() error { _, e := b.GELU(X, op.Elementwise{N: 5}); return e }()},
		{"relu N=0", "relu", func() error { _, e := b.ReLU(X, op.Elementwise{}); return e }()},
		{"add nil b", "add", func() error { _, e := b.Add(X, nil, ep); return e }()},
		{"conv2d nil bias with Bias", "conv2d", func() error {
			_, e := b.Conv2D(X, X, nil, op.Conv2D{Cin: 1, H: 2, W: 2, Cout: 1, KH: 2, KW: 2, Stride: 1, Bias: true})
			return e
		}()},
		{"dwconv wrong w", "dwconv", func() error {
			_, e := b.DWConv(X, two, nil, op.DWConv{C: 1, H: 2, W: 2, KH: 2, KW: 2, Stride: 1})
			return e
		}()},
		{"layernorm nil beta", "layernorm", func() error { _, e := b.LayerNorm(X, two, nil, lp); return e }()},
		{"batchnorm freed mean", "batchnorm", func() error {
			_, e := b.BatchNorm(X, freed, two, two, two, op.BatchNorm{C: 2, HW: 2, Eps: 1})
			return e
		}()},
		{"linear freed w", "linear", func() error { _, e := b.Linear(X, freed, nil, op.Linear{In: 2, Out: 2, HW: 2}); return e }()},
		{"softmax nil", "softmax", func() error { _, e := b.SoftmaxGradInput(X, nil, op.Softmax{N: 4}); return e }()},
		{"avgpool wrong len", "avgpool", func() error { _, e := b.AvgPool(X, op.AvgPool{C: 3, HW: 2}); return e }()},
		{"scaleresidual nil gamma", "scaleresidual", func() error { _, e := b.ScaleResidualGradInput(X, nil, op.ScaleResidual{C: 2, HW: 2}); return e }()},
		{"dwconvsum no branches", "dwconvsum", func() error { _, e := b.DWConvSum(X, nil, nil, nil); return e }()},
		{"lnlineargelu mismatch", "lnlineargelu", func() error {
			_, e := b.LNLinearGELU(X, two, two, X, nil, lp, op.Linear{In: 3, Out: 2, HW: 2})
			return e
		}()},
		{"linearscaleresidual nil x", "linearscaleresidual", func() error {
			_, e := b.LinearScaleResidual(X, X, nil, two, nil, op.Linear{In: 2, Out: 2, HW: 2})
			return e
		}()},
	}
	for _, c := range cases {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if !strings.HasPrefix(c.err.Error(), c.opName+":") {
			t.Errorf("%s: error %q does not start with the op name %q", c.name, c.err, c.opName)
		}
	}
	// Shape errors wrap op.ErrShape.
	if _, err := b.GELU(X, op.Elementwise{N: 5}); !errors.Is(err, op.ErrShape) {
		t.Errorf("gelu wrong N: %v does not wrap op.ErrShape", err)
	}
}
