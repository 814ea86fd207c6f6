// Package optest is the engine's conformance suite: a list of cases (hostile and real SLaK-T layer
// shapes) and a runner that builds deterministic inputs, runs an op forward or its input gradient
// on two op.Backends (a reference and one under test), and compares the results element by element
// under a tolerance stated, with its reason, per op.
//
// It is an ordinary package so that the same suite runs natively under go test (engine/gpu against
// engine/cpu on lavapipe), in the browser test and on an in-app self-test page.
package optest

import (
	"fmt"

	"github.com/slak-web/slak/engine/op"
)

// Dir selects the forward op or its input gradient.
type Dir int

const (
	Forward Dir = iota
	Grad
)

func (d Dir) String() string {
	if d == Grad {
		return "grad"
	}
	return "forward"
}

// Case is one op at one shape. Params is the op's parameter struct from engine/op (op.Conv2D for
// "conv2d", op.Elementwise for "gelu", …); Seed makes the inputs deterministic. Real marks a layer
// shape of a real network (named after the layer), which a quick run may skip.
type Case struct {
	Op     string
	Name   string
	Params any
	Seed   uint64
	Real   bool
}

func (c Case) String() string { return c.Op + "/" + c.Name }

// SLaK-T at 224² (SLAK.md §1.1–1.4): widths 124, 249, 499, 998 on 56², 28², 14², 7² maps; stage
// kernels 51, 49, 47, 13 decomposed as K×5 + 5×K + 5×5 with "same" padding (K/2, 2) and (2, K/2).
func dw(c, h, w, kh, kw, s, ph, pw int, bias bool) op.DWConv {
	return op.DWConv{C: c, H: h, W: w, KH: kh, KW: kw, Stride: s, PadH: ph, PadW: pw, Bias: bias}
}

func conv(cin, h, w, cout, kh, kw, s, ph, pw int, bias bool) op.Conv2D {
	return op.Conv2D{Cin: cin, H: h, W: w, Cout: cout, KH: kh, KW: kw, Stride: s, PadH: ph, PadW: pw, Bias: bias}
}

// Cases returns every case of the suite, hostile shapes first, then the real layers.
func Cases() []Case {
	cs := []Case{
		// conv2d: odd maps, stride 2 with asymmetric padding, no bias, rectangular kernels.
		{Op: "conv2d", Name: "odd_17x13_3x3_p1", Params: conv(5, 17, 13, 7, 3, 3, 1, 1, 1, true)},
		{Op: "conv2d", Name: "s2_5x3_pad2x1", Params: conv(3, 17, 13, 6, 5, 3, 2, 2, 1, true)},
		{Op: "conv2d", Name: "s2_4x4_nopad_drops_edge", Params: conv(4, 15, 11, 5, 4, 4, 2, 0, 0, true)},
		{Op: "conv2d", Name: "nobias_7x7_on_7x7_p3", Params: conv(9, 7, 7, 11, 7, 7, 1, 3, 3, false)},
		{Op: "conv2d", Name: "s3_kernel_larger_than_stride", Params: conv(2, 19, 17, 3, 5, 5, 3, 2, 1, true)},
		// dwconv: kernels larger than the map, C = 249 / 499, stride 2, asymmetric padding, no bias.
		{Op: "dwconv", Name: "odd_17x13_3x3", Params: dw(5, 17, 13, 3, 3, 1, 1, 1, true)},
		{Op: "dwconv", Name: "51x5_on_7x7", Params: dw(6, 7, 7, 51, 5, 1, 25, 2, false)},
		{Op: "dwconv", Name: "5x51_on_7x7", Params: dw(6, 7, 7, 5, 51, 1, 2, 25, false)},
		{Op: "dwconv", Name: "c249_7x7_p3", Params: dw(249, 9, 11, 7, 7, 1, 3, 3, true)},
		{Op: "dwconv", Name: "c499_s2_5x3_pad1x2", Params: dw(499, 13, 9, 5, 3, 2, 1, 2, true)},
		{Op: "dwconv", Name: "s2_4x4_nopad", Params: dw(3, 15, 17, 4, 4, 2, 0, 0, false)},
		{Op: "dwconv", Name: "s2_49x5_on_13x11", Params: dw(4, 13, 11, 49, 5, 2, 24, 2, true)},
		// layernorm over channels.
		{Op: "layernorm", Name: "odd_c7_17x13", Params: op.LayerNorm{C: 7, HW: 17 * 13, Eps: 1e-6}},
		{Op: "layernorm", Name: "c249_hw5", Params: op.LayerNorm{C: 249, HW: 5, Eps: 1e-6}},
		{Op: "layernorm", Name: "c499_hw49", Params: op.LayerNorm{C: 499, HW: 49, Eps: 1e-6}},
		{Op: "layernorm", Name: "c998_hw1_head_norm", Params: op.LayerNorm{C: 998, HW: 1, Eps: 1e-6}},
		// batchnorm (eval).
		{Op: "batchnorm", Name: "odd_c7_17x13", Params: op.BatchNorm{C: 7, HW: 17 * 13, Eps: 1e-5}},
		{Op: "batchnorm", Name: "c249_hw9", Params: op.BatchNorm{C: 249, HW: 9, Eps: 1e-5}},
		// linear: pointwise and fully connected.
		{Op: "linear", Name: "odd_13to17_hw11", Params: op.Linear{In: 13, Out: 17, HW: 11, Bias: true}},
		{Op: "linear", Name: "nobias_249to499_hw5", Params: op.Linear{In: 249, Out: 499, HW: 5}},
		{Op: "linear", Name: "fc_499to7_hw1", Params: op.Linear{In: 499, Out: 7, HW: 1, Bias: true}},
		// elementwise and reductions.
		{Op: "gelu", Name: "odd_3x17x13", Params: op.Elementwise{N: 3 * 17 * 13}},
		{Op: "relu", Name: "odd_3x17x13", Params: op.Elementwise{N: 3 * 17 * 13}},
		{Op: "add", Name: "odd_3x17x13", Params: op.Elementwise{N: 3 * 17 * 13}},
		{Op: "add", Name: "c249_7x7", Params: op.Elementwise{N: 249 * 49}},
		{Op: "scaleresidual", Name: "odd_c7_17x13", Params: op.ScaleResidual{C: 7, HW: 17 * 13}},
		{Op: "avgpool", Name: "odd_c7_17x13", Params: op.AvgPool{C: 7, HW: 17 * 13}},
		{Op: "softmax", Name: "n17", Params: op.Softmax{N: 17}},
		{Op: "softmax", Name: "n4999_strided", Params: op.Softmax{N: 4999}},

		// Real layers of SLaK-T at 224² (and the comparators' stems).
		{Op: "conv2d", Name: "slak_t_stem_4x4s4", Params: conv(3, 224, 224, 124, 4, 4, 4, 0, 0, true), Real: true},
		{Op: "conv2d", Name: "slak_t_ds1_2x2s2", Params: conv(124, 56, 56, 249, 2, 2, 2, 0, 0, true), Real: true},
		{Op: "conv2d", Name: "slak_t_ds3_2x2s2", Params: conv(499, 14, 14, 998, 2, 2, 2, 0, 0, true), Real: true},
		{Op: "conv2d", Name: "replknet_stem_3x3s2_p1", Params: conv(3, 224, 224, 128, 3, 3, 2, 1, 1, false), Real: true},
		{Op: "dwconv", Name: "slak_t_s0_51x5", Params: dw(124, 56, 56, 51, 5, 1, 25, 2, false), Real: true},
		{Op: "dwconv", Name: "slak_t_s0_5x51", Params: dw(124, 56, 56, 5, 51, 1, 2, 25, false), Real: true},
		{Op: "dwconv", Name: "slak_t_s0_5x5", Params: dw(124, 56, 56, 5, 5, 1, 2, 2, false), Real: true},
		{Op: "dwconv", Name: "slak_t_s1_49x5", Params: dw(249, 28, 28, 49, 5, 1, 24, 2, false), Real: true},
		{Op: "dwconv", Name: "slak_t_s2_47x5", Params: dw(499, 14, 14, 47, 5, 1, 23, 2, false), Real: true},
		{Op: "dwconv", Name: "slak_t_s3_13x5", Params: dw(998, 7, 7, 13, 5, 1, 6, 2, false), Real: true},
		{Op: "dwconv", Name: "convnext_t_s0_7x7", Params: dw(96, 56, 56, 7, 7, 1, 3, 3, true), Real: true},
		{Op: "layernorm", Name: "slak_t_s0_norm", Params: op.LayerNorm{C: 124, HW: 56 * 56, Eps: 1e-6}, Real: true},
		{Op: "batchnorm", Name: "slak_t_s0_lora1_bn", Params: op.BatchNorm{C: 124, HW: 56 * 56, Eps: 1e-5}, Real: true},
		{Op: "linear", Name: "slak_t_s0_pw1", Params: op.Linear{In: 124, Out: 496, HW: 56 * 56, Bias: true}, Real: true},
		{Op: "linear", Name: "slak_t_s0_pw2", Params: op.Linear{In: 496, Out: 124, HW: 56 * 56, Bias: true}, Real: true},
		{Op: "linear", Name: "slak_t_s3_pw1", Params: op.Linear{In: 998, Out: 3992, HW: 49, Bias: true}, Real: true},
		{Op: "linear", Name: "slak_t_head", Params: op.Linear{In: 998, Out: 1000, HW: 1, Bias: true}, Real: true},
		{Op: "gelu", Name: "slak_t_s0_pw1_act", Params: op.Elementwise{N: 496 * 56 * 56}, Real: true},
		{Op: "relu", Name: "replknet_stem_act", Params: op.Elementwise{N: 128 * 112 * 112}, Real: true},
		{Op: "add", Name: "slak_t_s0_lk_sum", Params: op.Elementwise{N: 124 * 56 * 56}, Real: true},
		{Op: "scaleresidual", Name: "slak_t_s0_residual", Params: op.ScaleResidual{C: 124, HW: 56 * 56}, Real: true},
		{Op: "avgpool", Name: "slak_t_head_pool", Params: op.AvgPool{C: 998, HW: 49}, Real: true},
		{Op: "softmax", Name: "slak_t_logits_1000", Params: op.Softmax{N: 1000}, Real: true},
	}
	for i := range cs {
		cs[i].Seed = uint64(1000 + i)
	}
	return cs
}

// check that a case's params have the type its op expects.
func paramsOK(c Case) error {
	ok := false
	switch c.Op {
	case "conv2d":
		_, ok = c.Params.(op.Conv2D)
	case "dwconv":
		_, ok = c.Params.(op.DWConv)
	case "layernorm":
		_, ok = c.Params.(op.LayerNorm)
	case "batchnorm":
		_, ok = c.Params.(op.BatchNorm)
	case "linear":
		_, ok = c.Params.(op.Linear)
	case "gelu", "relu", "add":
		_, ok = c.Params.(op.Elementwise)
	case "scaleresidual":
		_, ok = c.Params.(op.ScaleResidual)
	case "avgpool":
		_, ok = c.Params.(op.AvgPool)
	case "softmax":
		_, ok = c.Params.(op.Softmax)
	default:
		return fmt.Errorf("optest: %s: unknown op %q", c, c.Op)
	}
	if !ok {
		return fmt.Errorf("optest: %s: params %T do not belong to op %s", c, c.Params, c.Op)
	}
	return nil
}
