package cpu

import (
	"math"
	"math/rand"
	"testing"

	"github.com/slak-web/slak/engine/op"
)

var linearCases = []struct {
	name string
	p    op.Linear
}{
	{"pw1_c249_to_37_hw13", op.Linear{In: 249, Out: 37, HW: 13, Bias: true}},
	{"pw2_31_to_7_hw49", op.Linear{In: 31, Out: 7, HW: 49}},
	{"head_fc_499_to_11", op.Linear{In: 499, Out: 11, HW: 1, Bias: true}},
	{"1_to_1_hw1", op.Linear{In: 1, Out: 1, HW: 1, Bias: true}},
}

func linearRef64(x, w, b []float32, p op.Linear) []ref64 {
	out := make([]ref64, p.Out*p.HW)
	for o := 0; o < p.Out; o++ {
		for j := 0; j < p.HW; j++ {
			var r ref64
			if p.Bias {
				r.v, r.mag, r.n = float64(b[o]), math.Abs(float64(b[o])), 1
			}
			for i := 0; i < p.In; i++ {
				t := float64(w[o*p.In+i]) * float64(x[i*p.HW+j])
				r.v += t
				r.mag += math.Abs(t)
				r.n++
			}
			out[o*p.HW+j] = r
		}
	}
	return out
}

func TestLinear(t *testing.T) {
	r := rand.New(rand.NewSource(10))
	for _, tc := range linearCases {
		p := tc.p
		x := randSlice(r, p.In*p.HW, 1)
		w := randSlice(r, p.Out*p.In, 1/math.Sqrt(float64(p.In)))
		var b []float32
		if p.Bias {
			b = randSlice(r, p.Out, 0.5)
		}
		y, err := Linear(x, w, b, p)
		mustf(t, "linear/"+tc.name, err)
		compareBound(t, "linear", tc.name, y, linearRef64(x, w, b, p))
		dy := randSlice(r, p.Out*p.HW, 1)
		dx, err := LinearGradInput(dy, w, p)
		mustf(t, "linear grad/"+tc.name, err)
		// Linear in x: no truncation error, h = 0.5 (see TestConv2DGradInputFiniteDiff).
		gradCheck(t, "linear", tc.name, x, dy, dx, func(x []float32) ([]float32, error) { return Linear(x, w, b, p) }, 0.5, 1e-4, 1e-4, 40)
		pp := p
		pp.Bias = false
		y0, _ := Linear(x, w, nil, pp)
		adjointCheck(t, "linear", tc.name, x, y0, dx, dy)
	}
	// Hand: W = [[1,2],[3,4],[5,6]], x = [[1],[−1]], b = [0.25, 0, −1] → y = [−0.75, −1, −2].
	y, err := Linear([]float32{1, -1}, []float32{1, 2, 3, 4, 5, 6}, []float32{0.25, 0, -1}, op.Linear{In: 2, Out: 3, HW: 1, Bias: true})
	mustf(t, "linear hand", err)
	approxEq(t, "linear/hand", y, []float64{-0.75, -1, -2}, 0)
	if _, err := Linear(make([]float32, 4), make([]float32, 6), nil, op.Linear{In: 2, Out: 3, HW: 2, Bias: true}); err == nil {
		t.Error("linear: nil bias with Bias set: no error")
	}
}

var lnCases = []struct {
	name string
	p    op.LayerNorm
}{
	{"c249_hw13", op.LayerNorm{C: 249, HW: 13, Eps: 1e-6}},
	{"c7_hw1_head", op.LayerNorm{C: 7, HW: 1, Eps: 1e-6}},
	{"c3_hw57_stem", op.LayerNorm{C: 3, HW: 57, Eps: 1e-6}},
	{"c2_hw5_eps0.1", op.LayerNorm{C: 2, HW: 5, Eps: 0.1}},
}

func TestLayerNorm(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for _, tc := range lnCases {
		p := tc.p
		x := randSlice(r, p.C*p.HW, 2)
		for i := range x {
			x[i] += 3 // an offset, so the mean matters
		}
		g := randSlice(r, p.C, 1)
		b := randSlice(r, p.C, 1)
		y, err := LayerNorm(x, g, b, p)
		mustf(t, "layernorm/"+tc.name, err)
		// Independent float64 reference; tolerance 16u·((|x|+|u|)·r·|γ| + |β|):
		// the float32 subtraction x−u, the products with r and γ and the add of β
		// each round once relative to those magnitudes, and u, r are rounded
		// to float32 (a few ulps in all).
		for j := 0; j < p.HW; j++ {
			m, v := 0.0, 0.0
			for c := 0; c < p.C; c++ {
				m += float64(x[c*p.HW+j])
			}
			m /= float64(p.C)
			for c := 0; c < p.C; c++ {
				d := float64(x[c*p.HW+j]) - m
				v += d * d
			}
			v /= float64(p.C)
			rs := 1 / math.Sqrt(v+float64(p.Eps))
			for c := 0; c < p.C; c++ {
				i := c*p.HW + j
				want := (float64(x[i])-m)*rs*float64(g[c]) + float64(b[c])
				tol := 16 * u * ((math.Abs(float64(x[i]))+math.Abs(m))*rs*math.Abs(float64(g[c])) + math.Abs(float64(b[c])))
				if e := math.Abs(float64(y[i]) - want); e > tol {
					t.Errorf("layernorm/%s: c=%d p=%d: got %.9g want %.9g (err %.3g > %.3g)", tc.name, c, j, y[i], want, e, tol)
				}
			}
		}
		dy := randSlice(r, p.C*p.HW, 1)
		dx, err := LayerNormGradInput(x, g, dy, p)
		mustf(t, "layernorm grad/"+tc.name, err)
		// Nonlinear: h = 1e-2 (x has spread 2) gives truncation ~h²·|f'''|/6 ≈ 1e-5
		// relative and float32 output rounding ~C·6e-8/(2h) ≲ 1e-3·|dy| at C = 249;
		// tolerance 2e-3 + 2e-3·|fd|. Dropping either mean term of the gradient
		// changes it by ≳ 1e-2.
		gradCheck(t, "layernorm", tc.name, x, dy, dx, func(x []float32) ([]float32, error) { return LayerNorm(x, g, b, p) }, 1e-2, 2e-3, 2e-3, 40)
	}
	// Hand: C = 2 at one pixel, x = (1, 3): u = 2, s = 1, y = (−1, 1)/sqrt(1+eps)·γ + β.
	y, err := LayerNorm([]float32{1, 3}, []float32{2, 1}, []float32{0, 0.5}, op.LayerNorm{C: 2, HW: 1, Eps: 1e-6})
	mustf(t, "layernorm hand", err)
	s := 1 / math.Sqrt(1+1e-6)
	approxEq(t, "layernorm/hand", y, []float64{-2 * s, s + 0.5}, 2e-7)
	if _, err := LayerNorm([]float32{1}, []float32{1}, []float32{0}, op.LayerNorm{C: 1, HW: 1}); err == nil {
		t.Error("layernorm: eps 0: no error")
	}
}

func TestBatchNormAndFold(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	p := op.BatchNorm{C: 249, HW: 11, Eps: 1e-5}
	x := randSlice(r, p.C*p.HW, 1)
	mean := randSlice(r, p.C, 1)
	variance := randSlice(r, p.C, 1)
	for i := range variance {
		variance[i] = variance[i]*variance[i] + 0.05
	}
	g, b := randSlice(r, p.C, 1), randSlice(r, p.C, 1)
	y, err := BatchNorm(x, mean, variance, g, b, p)
	mustf(t, "batchnorm", err)
	for c := 0; c < p.C; c++ {
		rs := 1 / math.Sqrt(float64(variance[c])+float64(p.Eps))
		for j := 0; j < p.HW; j++ {
			i := c*p.HW + j
			want := (float64(x[i])-float64(mean[c]))*rs*float64(g[c]) + float64(b[c])
			// x·scale + shift with scale, shift rounded: ~4 roundings relative to
			// |x·scale| + |shift|.
			sc, sh := rs*float64(g[c]), float64(b[c])-float64(mean[c])*rs*float64(g[c])
			tol := 4 * u * (math.Abs(float64(x[i])*sc) + math.Abs(sh))
			if e := math.Abs(float64(y[i]) - want); e > tol {
				t.Errorf("batchnorm: c=%d p=%d: got %.9g want %.9g (err %.3g > %.3g)", c, j, y[i], want, e, tol)
			}
		}
	}
	dy := randSlice(r, p.C*p.HW, 1)
	dx, err := BatchNormGradInput(dy, variance, g, p)
	mustf(t, "batchnorm grad", err)
	// Affine in x: h = 0.5, tolerance as for conv.
	gradCheck(t, "batchnorm", "c249_hw11", x, dy, dx, func(x []float32) ([]float32, error) { return BatchNorm(x, mean, variance, g, b, p) }, 0.5, 1e-4, 1e-4, 40)

	// FoldBN: BN(conv(x; w, b)) == conv(x; w2, b2). The two sides differ by the
	// rounding of w·s versus (Σ w x)·s: tolerance from the conv summation
	// bound scaled by |s| plus BN's own roundings, as a relative 1e-5 of
	// Σ|terms|·|s| + |shift| (the sums have ≤ 45 terms).
	for _, withBias := range []bool{true, false} {
		cp := op.Conv2D{Cin: 5, H: 9, W: 7, Cout: 6, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Bias: true}
		cx, cw, cb := conv2dInputs(r, cp)
		if !withBias {
			cb = nil
			cp.Bias = false
		}
		bp := op.BatchNorm{C: cp.Cout, HW: cp.OutH() * cp.OutW(), Eps: 1e-5}
		m, v := randSlice(r, 6, 1), randSlice(r, 6, 1)
		for i := range v {
			v[i] = v[i]*v[i] + 0.01
		}
		bg, bb := randSlice(r, 6, 1), randSlice(r, 6, 1)
		z, err := Conv2D(cx, cw, cb, cp)
		mustf(t, "foldbn conv", err)
		want, err := BatchNorm(z, m, v, bg, bb, bp)
		mustf(t, "foldbn bn", err)
		w2, b2 := FoldBN(cw, cp.Cout, cb, m, v, bg, bb, bp.Eps)
		fp := cp
		fp.Bias = true
		got, err := Conv2D(cx, w2, b2, fp)
		mustf(t, "foldbn folded conv", err)
		ref := conv2dRef64(cx, cw, cb, cp)
		for i := range got {
			c := i / bp.HW
			s := math.Abs(float64(bg[c]) / math.Sqrt(float64(v[c])+1e-5))
			tol := 1e-5 * ((ref[i].mag+math.Abs(float64(m[c])))*s + math.Abs(float64(bb[c])))
			if e := math.Abs(float64(got[i] - want[i])); e > tol {
				t.Errorf("foldbn(bias=%v): index %d: folded %.9g, conv+bn %.9g (err %.3g > %.3g)", withBias, i, got[i], want[i], e, tol)
			}
		}
	}
	sc, sh := BNAffine([]float32{1}, []float32{3}, []float32{2}, []float32{0.5}, 1)
	approxEq(t, "bnaffine/hand", append(sc, sh...), []float64{1, -0.5}, 0) // 2/sqrt(4) = 1; 0.5 − 1·1
}

func TestElementwise(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	n := 1001
	x := randSlice(r, n, 3)
	x[0], x[1], x[2] = 0, -0, 40 // exact zero and a saturated value
	dy := randSlice(r, n, 1)
	p := op.Elementwise{N: n}

	// GELU against hand values (math.Erf-independent: Φ(1) = 0.8413447460685429).
	y, err := GELU([]float32{1, -1, 0}, op.Elementwise{N: 3})
	mustf(t, "gelu hand", err)
	approxEq(t, "gelu/hand", y, []float64{0.8413447460685429, -0.15865525393145707, 0}, 6e-8)
	y, err = GELU(x, p)
	mustf(t, "gelu", err)
	for i, v := range x {
		want := float64(v) * 0.5 * math.Erfc(-float64(v)/math.Sqrt2) // Φ via erfc: independent path
		// The erf form 0.5·x·(1+erf(x/√2)) (nn.GELU's, kept on purpose) cancels
		// for x ≪ 0: 1+erf carries float64's absolute error ~2.2e-16, so the
		// bound is one float32 rounding plus 0.5·|x|·4.4e-16 absolute.
		if e := math.Abs(float64(y[i]) - want); e > 2*u*math.Abs(want)+math.Abs(float64(v))*2.2e-16 {
			t.Errorf("gelu: x=%g: got %.9g want %.9g", v, y[i], want)
		}
	}
	dx, err := GELUGradInput(x, dy, p)
	mustf(t, "gelu grad", err)
	// h = 1e-3: truncation h²·|GELU'''|/6 < 1e-7, float32 rounding of the one
	// affected output ~6e-8·|y|/(2h) ≤ 4e-4 for |y| ≤ 12; tolerance 1e-3·(1+|fd|).
	gradCheck(t, "gelu", "n1001", x, dy, dx, func(x []float32) ([]float32, error) { return GELU(x, p) }, 1e-3, 1e-3, 1e-3, 80)

	// ReLU: exact; its gradient is 0 at x = 0 (PyTorch's convention).
	y, err = ReLU(x, p)
	mustf(t, "relu", err)
	dx, err = ReLUGradInput(x, dy, p)
	mustf(t, "relu grad", err)
	for i, v := range x {
		wy, wd := float32(0), float32(0)
		if v > 0 {
			wy, wd = v, dy[i]
		}
		if y[i] != wy || dx[i] != wd {
			t.Errorf("relu: x=%g: got y %g dx %g, want %g %g", v, y[i], dx[i], wy, wd)
		}
	}
	// Add: exact; gradient = dy.
	b := randSlice(r, n, 1)
	s, err := Add(x, b, p)
	mustf(t, "add", err)
	ga, err := AddGradInput(dy, p)
	mustf(t, "add grad", err)
	for i := range s {
		if s[i] != x[i]+b[i] || ga[i] != dy[i] {
			t.Fatalf("add: index %d: got %g / %g, want %g / %g", i, s[i], ga[i], x[i]+b[i], dy[i])
		}
	}
	ga[0]++
	if dy[0] == ga[0] {
		t.Error("add grad: returned dy itself, not a copy")
	}
	for name, err := range map[string]error{
		"gelu short":  func() error { _, e := GELU(x[:3], p); return e }(),
		"relu N=0":    func() error { _, e := ReLU(nil, op.Elementwise{}); return e }(),
		"add short b": func() error { _, e := Add(x, b[:5], p); return e }(),
		"gelu grad":   func() error { _, e := GELUGradInput(x, dy[:1], p); return e }(),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestScaleResidualAvgPoolSoftmax(t *testing.T) {
	r := rand.New(rand.NewSource(14))
	sp := op.ScaleResidual{C: 249, HW: 7}
	x, res, g := randSlice(r, 249*7, 1), randSlice(r, 249*7, 1), randSlice(r, 249, 1e-2)
	y, err := ScaleResidual(x, res, g, sp)
	mustf(t, "scaleresidual", err)
	for i := range y {
		if want := x[i] + g[i/7]*res[i]; y[i] != want {
			t.Fatalf("scaleresidual: index %d: got %g want %g", i, y[i], want)
		}
	}
	dy := randSlice(r, 249*7, 1)
	dr, err := ScaleResidualGradInput(dy, g, sp)
	mustf(t, "scaleresidual grad", err)
	// Linear in r: h = 0.5.
	gradCheck(t, "scaleresidual", "c249_hw7", res, dy, dr, func(r []float32) ([]float32, error) { return ScaleResidual(x, r, g, sp) }, 0.5, 1e-5, 1e-4, 40)

	ap := op.AvgPool{C: 13, HW: 49}
	xa := randSlice(r, 13*49, 1)
	ya, err := AvgPool(xa, ap)
	mustf(t, "avgpool", err)
	for c := 0; c < 13; c++ {
		s := 0.0
		for _, v := range xa[c*49 : (c+1)*49] {
			s += float64(v)
		}
		if e := math.Abs(float64(ya[c]) - s/49); e > u*math.Abs(s/49)+1e-12 { // one float32 rounding
			t.Errorf("avgpool: c=%d: got %.9g want %.9g", c, ya[c], s/49)
		}
	}
	dya := randSlice(r, 13, 1)
	dxa, err := AvgPoolGradInput(dya, ap)
	mustf(t, "avgpool grad", err)
	gradCheck(t, "avgpool", "c13_hw49", xa, dya, dxa, func(x []float32) ([]float32, error) { return AvgPool(x, ap) }, 0.5, 1e-5, 1e-4, 40)
	h, _ := AvgPool([]float32{1, 2, 3, 6}, op.AvgPool{C: 2, HW: 2})
	approxEq(t, "avgpool/hand", h, []float64{1.5, 4.5}, 0)

	// Softmax, hand: x = (0, ln 2, ln 5) → (1, 2, 5)/8.
	ys, err := Softmax([]float32{0, float32(math.Ln2), float32(math.Log(5))}, op.Softmax{N: 3})
	mustf(t, "softmax hand", err)
	approxEq(t, "softmax/hand", ys, []float64{0.125, 0.25, 0.625}, 1e-7)
	// Large logits must not overflow (max subtraction).
	ys, _ = Softmax([]float32{1000, 1000}, op.Softmax{N: 2})
	approxEq(t, "softmax/large", ys, []float64{0.5, 0.5}, 0)
	sm := op.Softmax{N: 1000}
	xs := randSlice(r, 1000, 3)
	ys, err = Softmax(xs, sm)
	mustf(t, "softmax", err)
	dys := randSlice(r, 1000, 1)
	dxs, err := SoftmaxGradInput(ys, dys, sm)
	mustf(t, "softmax grad", err)
	// h = 1e-3: truncation ~h²·|y|; the 1000 outputs each round (6e-8·y,
	// Σy = 1) → ~6e-8/(2h) = 3e-5 absolute; gradients are ~|y| ≤ 0.3, so
	// atol 1e-4, rtol 1e-3.
	gradCheck(t, "softmax", "n1000", xs, dys, dxs, func(x []float32) ([]float32, error) { return Softmax(x, sm) }, 1e-3, 1e-4, 1e-3, 60)
	for name, err := range map[string]error{
		"scaleresidual short gamma": func() error { _, e := ScaleResidual(x, res, g[:3], sp); return e }(),
		"avgpool HW=0":              func() error { _, e := AvgPool(xa, op.AvgPool{C: 1}); return e }(),
		"softmax short dy":          func() error { _, e := SoftmaxGradInput(ys, dys[:9], sm); return e }(),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
