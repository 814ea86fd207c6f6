package optest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/op"
)

func validate(p any) error {
	switch q := p.(type) {
	case op.Conv2D:
		return q.Validate()
	case op.DWConv:
		return q.Validate()
	case op.LayerNorm:
		return q.Validate()
	case op.BatchNorm:
		return q.Validate()
	case op.Linear:
		return q.Validate()
	case op.Elementwise:
		return q.Validate()
	case op.ScaleResidual:
		return q.Validate()
	case op.AvgPool:
		return q.Validate()
	case op.Softmax:
		return q.Validate()
	}
	return fmt.Errorf("unknown params %T", p)
}

func TestCasesValid(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Cases() {
		if err := paramsOK(c); err != nil {
			t.Error(err)
		}
		if err := validate(c.Params); err != nil {
			t.Errorf("%s: %v", c, err)
		}
		if seen[c.String()] {
			t.Errorf("%s: duplicate case", c)
		}
		seen[c.String()] = true
	}
	for _, name := range []string{"conv2d/slak_t_stem_4x4s4", "dwconv/slak_t_s0_51x5", "dwconv/slak_t_s0_5x51", "dwconv/slak_t_s0_5x5",
		"dwconv/slak_t_s1_49x5", "dwconv/slak_t_s2_47x5", "dwconv/slak_t_s3_13x5", "linear/slak_t_s0_pw1", "linear/slak_t_s0_pw2",
		"conv2d/slak_t_ds1_2x2s2", "layernorm/slak_t_s0_norm", "linear/slak_t_head", "conv2d/replknet_stem_3x3s2_p1", "dwconv/convnext_t_s0_7x7"} {
		if !seen[name] {
			t.Errorf("missing real-layer case %s", name)
		}
	}
}

// TestReferenceAgreesWithItself: the CPU backend against itself passes every quick case with
// zero error (the inputs are deterministic).
func TestReferenceAgreesWithItself(t *testing.T) {
	a, b := cpu.NewBackend(), cpu.NewBackend()
	for _, r := range RunAll(a, b, func(c Case) bool { return !c.Real }) {
		if !r.OK() || r.MaxErr != 0 {
			t.Errorf("%s", r)
		}
	}
}

// skewed is a backend that is wrong on purpose: its depthwise gradient is off by 1e-4 at one
// element, its GELU is the tanh approximation, and its LayerNorm fails.
type skewed struct{ *cpu.Backend }

func (s skewed) DWConvGradInput(dy, w op.Tensor, p op.DWConv) (op.Tensor, error) {
	y, err := s.Backend.DWConvGradInput(dy, w, p)
	if err != nil {
		return nil, err
	}
	v, _ := s.Download(y)
	v[p.W+2] += 1e-4 // c=0, y=1, x=2
	return s.Upload(v, y.Shape()...)
}

func (s skewed) GELU(x op.Tensor, p op.Elementwise) (op.Tensor, error) {
	v, _ := s.Download(x)
	for i, a := range v {
		// the tanh form, which differs from the erf form by ~1e-4 and more
		t := 0.7978845608 * (a + 0.044715*a*a*a)
		e := float32(1)
		if t < 20 {
			ex := float32(1)
			for k, term := 1, float32(1); k < 40; k++ { // exp(2t) by series, fine for |t| ≤ 4
				term *= 2 * t / float32(k)
				ex += term
			}
			e = (ex - 1) / (ex + 1)
		}
		v[i] = 0.5 * a * (1 + e)
	}
	return s.Upload(v, x.Shape()...)
}

func (s skewed) LayerNorm(x, g, b op.Tensor, p op.LayerNorm) (op.Tensor, error) {
	return nil, fmt.Errorf("layernorm: broken on purpose")
}

// TestDetectsErrors: the suite catches a one-element error, an approximation error and a backend
// error, and names op, case, coordinate, got and want.
func TestDetectsErrors(t *testing.T) {
	ref := cpu.NewBackend()
	bad := skewed{cpu.NewBackend()}
	var dw, ge, ln Case
	for _, c := range Cases() {
		switch c.String() {
		case "dwconv/odd_17x13_3x3":
			dw = c
		case "gelu/odd_3x17x13":
			ge = c
		case "layernorm/odd_c7_17x13":
			ln = c
		}
	}
	r := Run(ref, bad, dw, Grad)
	if r.OK() || r.Bad != 1 || len(r.Failures) != 1 || !strings.Contains(r.Failures[0], "dwconv_grad/odd_17x13_3x3 grad at [c=0 y=1 x=2]") {
		t.Errorf("one-element error not reported as expected: %s", r)
	} else {
		t.Logf("detected: %s", r.Failures[0])
	}
	if r := Run(ref, bad, dw, Forward); !r.OK() {
		t.Errorf("unskewed forward fails: %s", r)
	}
	if r := Run(ref, bad, ge, Forward); r.OK() {
		t.Errorf("tanh GELU passed the erf tolerance: %s", r)
	} else {
		t.Logf("detected tanh GELU: %d bad, max |Δ| %.3g", r.Bad, r.MaxErr)
	}
	if r := Run(ref, bad, ln, Forward); r.Err == nil || !strings.Contains(r.String(), "broken on purpose") {
		t.Errorf("backend error not reported: %s", r)
	}
}
