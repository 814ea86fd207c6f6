// Package cpu is the plain-Go float32 reference of every op in engine/op: the
// forward and the input gradient (vector–Jacobian product with respect to the
// op's input) of each op stem, as plain functions on slices, plus a Backend
// that implements op.Backend and op.Fused over host slices.
//
// Layout (the engine's, see engine/op): batch 1, float32, channel-major CHW. A
// map of C channels of H×W pixels is a slice of length C*H*W with element
// (c, y, x) at c*H*W + y*W + x. Weights keep PyTorch's layouts: dense conv
// OIHW [Cout, Cin, KH, KW], depthwise conv [C, KH, KW] (PyTorch's
// [C, 1, KH, KW]), linear [Out, In].
//
// The code is dull on purpose: the formula in each doc comment, naive loops
// ordered so that the innermost loop walks contiguous memory. Every function
// validates its parameters (p.Validate) and every slice length (op.CheckLen)
// and returns an error naming the op; none panics on bad input, except FoldBN
// and BNAffine which are weight-conversion helpers and panic with a constant
// message on mismatched lengths.
//
// Precision: products and sums are accumulated in float32, in a fixed order
// (for conv and linear: over input channel, then kernel row, then kernel
// column), except the statistics: LayerNorm's mean and variance, BatchNorm's
// scale sqrt(var+eps), the global average pool's sums and softmax's max/sum,
// which use float64 and round once to float32. GELU evaluates math.Erf in
// float64. Results are deterministic: the few loops that run on several
// goroutines split over output rows, never over a sum.
package cpu
