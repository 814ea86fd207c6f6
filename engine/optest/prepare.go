package optest

import (
	"fmt"
	"math"

	"github.com/slak-web/slak/engine/op"
)

// u is the float32 unit roundoff 2⁻²⁴.
const u = 1.0 / (1 << 24)

// input kinds.
const (
	uniform  = iota // U(−1, 1)
	wide            // U(−4, 4): covers GELU's curved range and softmax's exp
	positive        // U(0.1, 1.1): variances
	absent          // nil tensor (no bias)
)

type arg struct {
	name  string
	shape []int
	kind  int
}

// prepared is one (case, direction): the inputs, the call, and the tolerance rule.
type prepared struct {
	args []arg
	// call runs the op on b with the uploaded inputs (nil where absent).
	call func(b op.Backend, t []op.Tensor) (op.Tensor, error)
	// For a sum-like op, magIn maps the inputs to inputs whose reference output bounds Σ|terms|
	// element by element (abs of every input by default) and tol_i = factor·u·mag_i.
	sum    bool
	factor float64
	magIn  func(in [][]float32) [][]float32
	// Otherwise tol computes the tolerance from the host inputs and the reference output.
	tol  func(in [][]float32, want []float32) []float64
	rule string
	// fix, when set, rewrites the generated inputs in place (softmax's gradient needs a real y).
	fix func(in [][]float32)
}

// sumFactor is the tolerance factor for a float32 sum of K terms computed in a different order on
// each side: the probabilistic bound of Higham & Mary (SIAM J. Sci. Comput. 2019) gives
// |error| ≤ λ·√K·u·Σ|terms| per side with high probability; λ = 2 per side (so 4 for the
// difference of two implementations) plus 2 for the final rounding and scaling.
func sumFactor(k int) float64 { return 4*math.Sqrt(float64(k)) + 2 }

func sumRule(k int, what string) string {
	return fmt.Sprintf("|Δ| ≤ (4√K+2)·u·Σ|terms|, K = %d (%s): f32 sums in a different order on each side (Higham–Mary probabilistic bound)", k, what)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func absAll(in [][]float32) [][]float32 {
	out := make([][]float32, len(in))
	for i, v := range in {
		if v == nil {
			continue
		}
		out[i] = make([]float32, len(v))
		for j, x := range v {
			out[i][j] = float32(math.Abs(float64(x)))
		}
	}
	return out
}

func prepare(c Case, dir Dir) (prepared, error) {
	if err := paramsOK(c); err != nil {
		return prepared{}, err
	}
	biasKind := func(b bool) int {
		if b {
			return uniform
		}
		return absent
	}
	switch p := c.Params.(type) {
	case op.Conv2D:
		wsh := []int{p.Cout, p.Cin, p.KH, p.KW}
		if dir == Forward {
			k := p.Cin*p.KH*p.KW + 1
			return prepared{
				args: []arg{{"x", []int{p.Cin, p.H, p.W}, uniform}, {"w", wsh, uniform}, {"b", []int{p.Cout}, biasKind(p.Bias)}},
				call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.Conv2D(t[0], t[1], t[2], p) },
				sum:  true, factor: sumFactor(k), rule: sumRule(k, "Cin·KH·KW taps + bias"),
			}, nil
		}
		k := p.Cout * ceilDiv(p.KH, p.Stride) * ceilDiv(p.KW, p.Stride)
		return prepared{
			args: []arg{{"dy", []int{p.Cout, p.OutH(), p.OutW()}, uniform}, {"w", wsh, uniform}},
			call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.Conv2DGradInput(t[0], t[1], p) },
			sum:  true, factor: sumFactor(k), rule: sumRule(k, "Cout·⌈KH/S⌉·⌈KW/S⌉ taps"),
		}, nil
	case op.DWConv:
		wsh := []int{p.C, p.KH, p.KW}
		if dir == Forward {
			k := p.KH*p.KW + 1
			return prepared{
				args: []arg{{"x", []int{p.C, p.H, p.W}, uniform}, {"w", wsh, uniform}, {"b", []int{p.C}, biasKind(p.Bias)}},
				call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.DWConv(t[0], t[1], t[2], p) },
				sum:  true, factor: sumFactor(k), rule: sumRule(k, "KH·KW taps + bias"),
			}, nil
		}
		k := ceilDiv(p.KH, p.Stride) * ceilDiv(p.KW, p.Stride)
		return prepared{
			args: []arg{{"dy", []int{p.C, p.OutH(), p.OutW()}, uniform}, {"w", wsh, uniform}},
			call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.DWConvGradInput(t[0], t[1], p) },
			sum:  true, factor: sumFactor(k), rule: sumRule(k, "⌈KH/S⌉·⌈KW/S⌉ taps"),
		}, nil
	case op.Linear:
		wsh := []int{p.Out, p.In}
		if dir == Forward {
			return prepared{
				args: []arg{{"x", []int{p.In, p.HW}, uniform}, {"w", wsh, uniform}, {"b", []int{p.Out}, biasKind(p.Bias)}},
				call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.Linear(t[0], t[1], t[2], p) },
				sum:  true, factor: sumFactor(p.In + 1), rule: sumRule(p.In+1, "In terms + bias"),
			}, nil
		}
		return prepared{
			args: []arg{{"dy", []int{p.Out, p.HW}, uniform}, {"w", wsh, uniform}},
			call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.LinearGradInput(t[0], t[1], p) },
			sum:  true, factor: sumFactor(p.Out), rule: sumRule(p.Out, "Out terms"),
		}, nil
	case op.LayerNorm:
		return prepareLayerNorm(p, dir), nil
	case op.BatchNorm:
		if dir == Forward {
			return prepared{
				args: []arg{{"x", []int{p.C, p.HW}, uniform}, {"mean", []int{p.C}, uniform}, {"variance", []int{p.C}, positive},
					{"gamma", []int{p.C}, uniform}, {"beta", []int{p.C}, uniform}},
				call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) {
					return b.BatchNorm(t[0], t[1], t[2], t[3], t[4], p)
				},
				sum: true, factor: 16,
				// (|x|+|mean|)/sqrt(var+eps)·|γ| + |β| bounds every intermediate.
				magIn: func(in [][]float32) [][]float32 {
					a := absAll(in)
					x := make([]float32, len(a[0]))
					for i := range x {
						x[i] = a[0][i] + a[1][i/p.HW]
					}
					return [][]float32{x, make([]float32, p.C), in[2], a[3], a[4]}
				},
				rule: "|Δ| ≤ 16·u·((|x|+|mean|)/σ·|γ| + |β|): five f32 operations (sub, sqrt, div, mul, add; WGSL sqrt/div ≤ 2.5 ulp each)",
			}, nil
		}
		return prepared{
			args: []arg{{"dy", []int{p.C, p.HW}, uniform}, {"variance", []int{p.C}, positive}, {"gamma", []int{p.C}, uniform}},
			call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.BatchNormGradInput(t[0], t[1], t[2], p) },
			sum:  true, factor: 16,
			rule: "|Δ| ≤ 16·u·|dy·γ/σ|: mul, sqrt, div in f32 (WGSL sqrt/div ≤ 2.5 ulp each)",
		}, nil
	case op.Elementwise:
		return prepareElementwise(c.Op, p, dir), nil
	case op.ScaleResidual:
		sh := []int{p.C, p.HW}
		if dir == Forward {
			return prepared{
				args: []arg{{"x", sh, uniform}, {"r", sh, uniform}, {"gamma", []int{p.C}, uniform}},
				call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.ScaleResidual(t[0], t[1], t[2], p) },
				sum:  true, factor: 4, rule: "|Δ| ≤ 4·u·(|x|+|γr|): one product and one sum, possibly fused (FMA) on one side",
			}, nil
		}
		return prepared{
			args: []arg{{"dy", sh, uniform}, {"gamma", []int{p.C}, uniform}},
			call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.ScaleResidualGradInput(t[0], t[1], p) },
			sum:  true, factor: 0, rule: "exact: one correctly rounded f32 product on each side",
		}, nil
	case op.AvgPool:
		if dir == Forward {
			return prepared{
				args: []arg{{"x", []int{p.C, p.HW}, uniform}},
				call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.AvgPool(t[0], p) },
				sum:  true, factor: sumFactor(p.HW), rule: sumRule(p.HW, "HW pixels; the mean scales terms and bound alike"),
			}, nil
		}
		return prepared{
			args: []arg{{"dy", []int{p.C}, uniform}},
			call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.AvgPoolGradInput(t[0], p) },
			sum:  true, factor: 2, rule: "|Δ| ≤ 2·u·|dy/HW|: one division (a reciprocal product on some drivers)",
		}, nil
	case op.Softmax:
		return prepareSoftmax(p, dir), nil
	}
	return prepared{}, fmt.Errorf("optest: %s: no preparation for %T", c, c.Params)
}

func prepareElementwise(name string, p op.Elementwise, dir Dir) prepared {
	sh := []int{p.N}
	switch name {
	case "gelu":
		if dir == Forward {
			return prepared{
				args: []arg{{"x", sh, wide}},
				call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.GELU(t[0], p) },
				tol: func(in [][]float32, want []float32) []float64 {
					out := make([]float64, len(want))
					for i, x := range in[0] {
						ax := math.Abs(float64(x))
						out[i] = 0.75e-7*ax + 16*u*(math.Abs(float64(want[i]))+0.5*ax)
					}
					return out
				},
				rule: "|Δ| ≤ 0.75e-7·|x| + 16·u·(|y| + |x|/2): erf by Abramowitz–Stegun 7.1.26 (|Δerf| ≤ 1.5e-7, times |x|/2) against math.Erf, plus f32 exp (WGSL: 3+2|x| ulp) and rounding",
			}
		}
		return prepared{
			args: []arg{{"x", sh, wide}, {"dy", sh, uniform}},
			call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.GELUGradInput(t[0], t[1], p) },
			tol: func(in [][]float32, want []float32) []float64 {
				out := make([]float64, len(want))
				for i, x := range in[0] {
					ax, ady := math.Abs(float64(x)), math.Abs(float64(in[1][i]))
					out[i] = ady * (0.75e-7 + 16*u*(1+ax*ax))
				}
				return out
			},
			rule: "|Δ| ≤ |dy|·(0.75e-7 + 16·u·(1+x²)): A&S 7.1.26 erf in Φ (≤ 0.75e-7), f32 exp(−x²/2) with WGSL's 3+2|x| ulp, rounding",
		}
	case "relu":
		if dir == Forward {
			return prepared{
				args: []arg{{"x", sh, uniform}},
				call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.ReLU(t[0], p) },
				sum:  true, factor: 0, rule: "exact: max(x, 0) rounds nothing",
			}
		}
		return prepared{
			args: []arg{{"x", sh, uniform}, {"dy", sh, uniform}},
			call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.ReLUGradInput(t[0], t[1], p) },
			tol:  func(in [][]float32, want []float32) []float64 { return make([]float64, len(want)) },
			rule: "exact: a select of dy rounds nothing",
		}
	default: // add
		if dir == Forward {
			return prepared{
				args: []arg{{"a", sh, uniform}, {"b", sh, uniform}},
				call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.Add(t[0], t[1], p) },
				sum:  true, factor: 0, rule: "exact: a + b is correctly rounded on both sides",
			}
		}
		return prepared{
			args: []arg{{"dy", sh, uniform}},
			call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.AddGradInput(t[0], p) },
			sum:  true, factor: 0, rule: "exact: dL/da is dy itself",
		}
	}
}

func prepareLayerNorm(p op.LayerNorm, dir Dir) prepared {
	sh := []int{p.C, p.HW}
	// stats returns per-pixel mean, 1/σ and max|x̂| in float64.
	stats := func(x []float32) (mean, r, xmax []float64) {
		mean, r, xmax = make([]float64, p.HW), make([]float64, p.HW), make([]float64, p.HW)
		for q := 0; q < p.HW; q++ {
			s := 0.0
			for c := 0; c < p.C; c++ {
				s += float64(x[c*p.HW+q])
			}
			m := s / float64(p.C)
			v := 0.0
			for c := 0; c < p.C; c++ {
				d := float64(x[c*p.HW+q]) - m
				v += d * d
			}
			mean[q], r[q] = m, 1/math.Sqrt(v/float64(p.C)+float64(p.Eps))
			for c := 0; c < p.C; c++ {
				xmax[q] = math.Max(xmax[q], math.Abs(float64(x[c*p.HW+q])-m)*r[q])
			}
		}
		return
	}
	lam := 8 * (math.Sqrt(float64(p.C)) + 4) * u
	if dir == Forward {
		return prepared{
			args: []arg{{"x", sh, uniform}, {"gamma", []int{p.C}, uniform}, {"beta", []int{p.C}, uniform}},
			call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.LayerNorm(t[0], t[1], t[2], p) },
			tol: func(in [][]float32, want []float32) []float64 {
				mean, r, xmax := stats(in[0])
				out := make([]float64, len(want))
				for i := range out {
					c, q := i/p.HW, i%p.HW
					xh := math.Abs(float64(in[0][i])-mean[q]) * r[q]
					out[i] = lam*(xh+xmax[q])*math.Abs(float64(in[1][c])) + 4*u*math.Abs(float64(in[2][c]))
				}
				return out
			},
			rule: "|Δ| ≤ 8(√C+4)·u·(|x̂|+max|x̂|)·|γ| + 4u|β|: f32 mean and variance over C channels (the reference uses float64), each off by ~√C·u relative, move x̂ by that much",
		}
	}
	return prepared{
		args: []arg{{"x", sh, uniform}, {"gamma", []int{p.C}, uniform}, {"dy", sh, uniform}},
		call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.LayerNormGradInput(t[0], t[1], t[2], p) },
		tol: func(in [][]float32, want []float32) []float64 {
			mean, r, xmax := stats(in[0])
			mg, mgx := make([]float64, p.HW), make([]float64, p.HW)
			for i := range want {
				c, q := i/p.HW, i%p.HW
				g := math.Abs(float64(in[2][i]) * float64(in[1][c]))
				mg[q] += g / float64(p.C)
				mgx[q] += g * math.Abs(float64(in[0][i])-mean[q]) * r[q] / float64(p.C)
			}
			out := make([]float64, len(want))
			for i := range out {
				c, q := i/p.HW, i%p.HW
				g := math.Abs(float64(in[2][i]) * float64(in[1][c]))
				xh := math.Abs(float64(in[0][i])-mean[q]) * r[q]
				out[i] = lam * r[q] * (g + mg[q] + (xh+xmax[q])*mgx[q]) * (1 + xmax[q])
			}
			return out
		},
		rule: "|Δ| ≤ 8(√C+4)·u·r·(|g| + mean|g| + (|x̂|+max|x̂|)·mean|g·x̂|)·(1+max|x̂|): three f32 channel reductions (stats, Σg, Σg·x̂), each ~√C·u relative",
	}
}

func prepareSoftmax(p op.Softmax, dir Dir) prepared {
	sh := []int{p.N}
	sq := math.Sqrt(float64(p.N))
	if dir == Forward {
		return prepared{
			args: []arg{{"x", sh, wide}},
			call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.Softmax(t[0], p) },
			tol: func(in [][]float32, want []float32) []float64 {
				out := make([]float64, len(want))
				for i, y := range want {
					out[i] = (24 + 4*sq) * u * float64(y)
				}
				return out
			},
			rule: "|Δ| ≤ (24+4√N)·u·y: WGSL exp is within 3+2|x| ulp (|x−max| ≤ 8 here: 19 ulp) and the f32 sum of N terms is off by ~√N·u",
		}
	}
	return prepared{
		// y is a softmax output: the runner replaces the raw input by softmax(x) on the host.
		args: []arg{{"y", sh, wide}, {"dy", sh, uniform}},
		call: func(b op.Backend, t []op.Tensor) (op.Tensor, error) { return b.SoftmaxGradInput(t[0], t[1], p) },
		fix: func(in [][]float32) {
			m, s := math.Inf(-1), 0.0
			for _, v := range in[0] {
				m = math.Max(m, float64(v))
			}
			for _, v := range in[0] {
				s += math.Exp(float64(v) - m)
			}
			for i, v := range in[0] {
				in[0][i] = float32(math.Exp(float64(v)-m) / s)
			}
		},
		tol: func(in [][]float32, want []float32) []float64 {
			dot := 0.0
			for i := range in[0] {
				dot += math.Abs(float64(in[0][i]) * float64(in[1][i]))
			}
			out := make([]float64, len(want))
			for i := range out {
				y := float64(in[0][i])
				out[i] = 8 * u * (math.Abs(float64(want[i])) + y*(math.Abs(float64(in[1][i]))+(4*sq+2)*dot))
			}
			return out
		},
		rule: "|Δ| ≤ 8u·(|dx| + y·(|dy| + (4√N+2)·Σ|y·dy|)): the f32 dot product Σ y·dy over N terms in a different order",
	}
}
