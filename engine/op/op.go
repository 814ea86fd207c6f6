// Package op holds what the CPU reference (engine/cpu) and the WebGPU engine
// (engine/gpu) share: the parameter struct of every op, its shape checks, and
// the Backend interface that engine/model runs a whole network on.
//
// Layout, everywhere in the engine: one image at a time (batch 1), float32,
// channel-major CHW. A feature map with C channels of H×W pixels is a slice of
// length C*H*W and element (c, y, x) sits at index c*H*W + y*W + x. Weights keep
// PyTorch's layouts: dense conv OIHW [Cout, Cin, KH, KW], depthwise conv
// [C, KH, KW] (PyTorch's [C, 1, KH, KW]), linear [Out, In].
//
// Every op has the same stem in four places: engine/cpu/<stem>.go,
// wgsl/<stem>*.wgsl, engine/gpu/<stem>.go and the <stem> cases of
// engine/optest. The stems are listed in Ops.
package op

import (
	"errors"
	"fmt"
)

// Ops lists every op stem. Each has a forward and an input-gradient
// (vector–Jacobian product with respect to the input) in engine/cpu and
// engine/gpu; the completeness test checks all four places.
var Ops = []string{
	"conv2d",        // dense 2-D convolution with stride, padding, bias
	"dwconv",        // depthwise convolution, rectangular kernel, per-axis padding
	"layernorm",     // LayerNorm over channels at every pixel
	"batchnorm",     // BatchNorm in eval form (running statistics)
	"linear",        // pointwise / fully connected: y[o,p] = Σ_i W[o,i] x[i,p] + b[o]
	"gelu",          // exact erf GELU
	"relu",          // max(x, 0)
	"add",           // elementwise sum
	"scaleresidual", // layer scale + residual: y = x + γ[c]·r
	"avgpool",       // global average pool over H×W
	"softmax",       // softmax over a vector
}

// ErrShape is wrapped by every shape or size error.
var ErrShape = errors.New("bad shape")

func bad(opName, format string, a ...any) error {
	return fmt.Errorf("%s: %w: %s", opName, ErrShape, fmt.Sprintf(format, a...))
}

func positive(opName string, kv ...any) error {
	for i := 0; i+1 < len(kv); i += 2 {
		if v := kv[i+1].(int); v <= 0 {
			return bad(opName, "%s = %d, must be > 0", kv[i], v)
		}
	}
	return nil
}

// Conv2D is a dense convolution (cross-correlation, PyTorch convention):
//
//	y[o, oy, ox] = b[o] + Σ_{i,ky,kx} w[o, i, ky, kx] · x[i, oy·S+ky−PH, ox·S+kx−PW]
//
// with zero padding; x is [Cin, H, W], w is [Cout, Cin, KH, KW], b is [Cout]
// (absent when !Bias), y is [Cout, OutH, OutW].
type Conv2D struct {
	Cin, H, W, Cout, KH, KW, Stride, PadH, PadW int
	Bias                                        bool
}

func (p Conv2D) OutH() int { return (p.H+2*p.PadH-p.KH)/p.Stride + 1 }
func (p Conv2D) OutW() int { return (p.W+2*p.PadW-p.KW)/p.Stride + 1 }

// Validate reports a shape that the op cannot run.
func (p Conv2D) Validate() error {
	if err := positive("conv2d", "Cin", p.Cin, "H", p.H, "W", p.W, "Cout", p.Cout, "KH", p.KH, "KW", p.KW, "Stride", p.Stride); err != nil {
		return err
	}
	if p.PadH < 0 || p.PadW < 0 {
		return bad("conv2d", "negative padding (%d, %d)", p.PadH, p.PadW)
	}
	if p.H+2*p.PadH < p.KH || p.W+2*p.PadW < p.KW {
		return bad("conv2d", "kernel %dx%d larger than padded input %dx%d", p.KH, p.KW, p.H+2*p.PadH, p.W+2*p.PadW)
	}
	return nil
}

// DWConv is a depthwise convolution (groups = C, cross-correlation):
//
//	y[c, oy, ox] = b[c] + Σ_{ky,kx} w[c, ky, kx] · x[c, oy·S+ky−PH, ox·S+kx−PW]
//
// x is [C, H, W], w is [C, KH, KW], b is [C] (absent when !Bias). SLaK's
// branches use "same" padding per axis: (K/2, N/2) for K×N kernels.
type DWConv struct {
	C, H, W, KH, KW, Stride, PadH, PadW int
	Bias                                bool
}

func (p DWConv) OutH() int { return (p.H+2*p.PadH-p.KH)/p.Stride + 1 }
func (p DWConv) OutW() int { return (p.W+2*p.PadW-p.KW)/p.Stride + 1 }

// Validate reports a shape that the op cannot run.
func (p DWConv) Validate() error {
	if err := positive("dwconv", "C", p.C, "H", p.H, "W", p.W, "KH", p.KH, "KW", p.KW, "Stride", p.Stride); err != nil {
		return err
	}
	if p.PadH < 0 || p.PadW < 0 {
		return bad("dwconv", "negative padding (%d, %d)", p.PadH, p.PadW)
	}
	if p.H+2*p.PadH < p.KH || p.W+2*p.PadW < p.KW {
		return bad("dwconv", "kernel %dx%d larger than padded input %dx%d", p.KH, p.KW, p.H+2*p.PadH, p.W+2*p.PadW)
	}
	return nil
}

// LayerNorm normalises over channels at every pixel p of x [C, HW]:
//
//	u = mean_c x[c,p];  s = mean_c (x[c,p]−u)²  (biased);  y[c,p] = (x[c,p]−u)/sqrt(s+Eps)·γ[c] + β[c]
type LayerNorm struct {
	C, HW int
	Eps   float32
}

func (p LayerNorm) Validate() error {
	if err := positive("layernorm", "C", p.C, "HW", p.HW); err != nil {
		return err
	}
	if !(p.Eps > 0) {
		return bad("layernorm", "eps %g must be > 0", p.Eps)
	}
	return nil
}

// BatchNorm is BatchNorm2d in eval form over x [C, HW]:
//
//	y[c,p] = (x[c,p] − mean[c]) / sqrt(var[c] + Eps) · γ[c] + β[c]
type BatchNorm struct {
	C, HW int
	Eps   float32
}

func (p BatchNorm) Validate() error {
	if err := positive("batchnorm", "C", p.C, "HW", p.HW); err != nil {
		return err
	}
	if !(p.Eps > 0) {
		return bad("batchnorm", "eps %g must be > 0", p.Eps)
	}
	return nil
}

// Linear is a pointwise (1×1) layer on x [In, HW], or a fully connected layer
// when HW = 1:
//
//	y[o,p] = b[o] + Σ_i W[o,i] · x[i,p]      W is [Out, In] (nn.Linear layout)
type Linear struct {
	In, Out, HW int
	Bias        bool
}

func (p Linear) Validate() error {
	return positive("linear", "In", p.In, "Out", p.Out, "HW", p.HW)
}

// Elementwise is the size of an elementwise op (gelu, relu, add).
type Elementwise struct{ N int }

func (p Elementwise) Validate() error { return positive("elementwise", "N", p.N) }

// ScaleResidual is ConvNeXt's layer scale plus residual over [C, HW]:
//
//	y[c,p] = x[c,p] + γ[c] · r[c,p]
type ScaleResidual struct{ C, HW int }

func (p ScaleResidual) Validate() error { return positive("scaleresidual", "C", p.C, "HW", p.HW) }

// AvgPool is a global average pool: y[c] = mean_p x[c,p] over x [C, HW].
type AvgPool struct{ C, HW int }

func (p AvgPool) Validate() error { return positive("avgpool", "C", p.C, "HW", p.HW) }

// Softmax is y[i] = exp(x[i] − max x) / Σ_j exp(x[j] − max x) over x [N].
type Softmax struct{ N int }

func (p Softmax) Validate() error { return positive("softmax", "N", p.N) }

// CheckLen reports a tensor whose length differs from what the op expects.
func CheckLen(opName, what string, got, want int) error {
	if got != want {
		return bad(opName, "%s has %d elements, want %d", what, got, want)
	}
	return nil
}
