package cpu

import (
	"math"
	"math/rand"
	"testing"

	"github.com/slak-web/slak/engine/op"
)

// conv2dRef64 is an independent float64 Conv2D: one bounds check per tap,
// no clipped ranges.
func conv2dRef64(x, w, b []float32, p op.Conv2D) []ref64 {
	oh, ow := p.OutH(), p.OutW()
	out := make([]ref64, p.Cout*oh*ow)
	for o := 0; o < p.Cout; o++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				var r ref64
				if p.Bias {
					r.v, r.mag, r.n = float64(b[o]), math.Abs(float64(b[o])), 1
				}
				for i := 0; i < p.Cin; i++ {
					for ky := 0; ky < p.KH; ky++ {
						for kx := 0; kx < p.KW; kx++ {
							iy, ix := oy*p.Stride+ky-p.PadH, ox*p.Stride+kx-p.PadW
							if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
								continue
							}
							t := float64(w[((o*p.Cin+i)*p.KH+ky)*p.KW+kx]) * float64(x[(i*p.H+iy)*p.W+ix])
							r.v += t
							r.mag += math.Abs(t)
							r.n++
						}
					}
				}
				out[(o*oh+oy)*ow+ox] = r
			}
		}
	}
	return out
}

func dwconvRef64(x, w, b []float32, p op.DWConv) []ref64 {
	oh, ow := p.OutH(), p.OutW()
	out := make([]ref64, p.C*oh*ow)
	for c := 0; c < p.C; c++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				var r ref64
				if p.Bias {
					r.v, r.mag, r.n = float64(b[c]), math.Abs(float64(b[c])), 1
				}
				for ky := 0; ky < p.KH; ky++ {
					for kx := 0; kx < p.KW; kx++ {
						iy, ix := oy*p.Stride+ky-p.PadH, ox*p.Stride+kx-p.PadW
						if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
							continue
						}
						t := float64(w[(c*p.KH+ky)*p.KW+kx]) * float64(x[(c*p.H+iy)*p.W+ix])
						r.v += t
						r.mag += math.Abs(t)
						r.n++
					}
				}
				out[(c*oh+oy)*ow+ox] = r
			}
		}
	}
	return out
}

var conv2dCases = []struct {
	name string
	p    op.Conv2D
}{
	{"stem_4x4s4_odd23", op.Conv2D{Cin: 3, H: 23, W: 23, Cout: 7, KH: 4, KW: 4, Stride: 4, Bias: true}},
	{"3x3s2p1_13x11", op.Conv2D{Cin: 9, H: 13, W: 11, Cout: 6, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1, Bias: true}},
	{"down_2x2s2_c249_7x7", op.Conv2D{Cin: 249, H: 7, W: 7, Cout: 5, KH: 2, KW: 2, Stride: 2, Bias: true}},
	{"pw_1x1_5x9", op.Conv2D{Cin: 5, H: 5, W: 9, Cout: 3, KH: 1, KW: 1, Stride: 1}},
	{"3x3p2_biggerpad_5x4", op.Conv2D{Cin: 2, H: 5, W: 4, Cout: 3, KH: 3, KW: 3, Stride: 1, PadH: 2, PadW: 2}},
	{"1x3s2_pad0x3_rect", op.Conv2D{Cin: 4, H: 6, W: 7, Cout: 2, KH: 1, KW: 3, Stride: 2, PadH: 0, PadW: 3, Bias: true}},
	{"5x5s3p0_stride_gt_rest", op.Conv2D{Cin: 2, H: 12, W: 10, Cout: 3, KH: 5, KW: 5, Stride: 3}},
}

var dwconvCases = []struct {
	name string
	p    op.DWConv
}{
	{"slak_t_s3_51x5_on_7x7", op.DWConv{C: 3, H: 7, W: 7, KH: 51, KW: 5, Stride: 1, PadH: 25, PadW: 2}},
	{"5x51_on_9x7", op.DWConv{C: 2, H: 9, W: 7, KH: 5, KW: 51, Stride: 1, PadH: 2, PadW: 25, Bias: true}},
	{"5x5s2p2_c249_13x11", op.DWConv{C: 249, H: 13, W: 11, KH: 5, KW: 5, Stride: 2, PadH: 2, PadW: 2, Bias: true}},
	{"7x7p4_biggerpad_6x5", op.DWConv{C: 3, H: 6, W: 5, KH: 7, KW: 7, Stride: 1, PadH: 4, PadW: 4}},
	{"3x3s2p0_even8x6", op.DWConv{C: 4, H: 8, W: 6, KH: 3, KW: 3, Stride: 2, Bias: true}},
	{"13x13p6_17x15", op.DWConv{C: 5, H: 17, W: 15, KH: 13, KW: 13, Stride: 1, PadH: 6, PadW: 6, Bias: true}},
	{"rect_3x7s2_p(3,1)", op.DWConv{C: 3, H: 9, W: 10, KH: 3, KW: 7, Stride: 2, PadH: 3, PadW: 1}},
}

func conv2dInputs(r *rand.Rand, p op.Conv2D) (x, w, b []float32) {
	x = randSlice(r, p.Cin*p.H*p.W, 1)
	w = randSlice(r, p.Cout*p.Cin*p.KH*p.KW, 1/math.Sqrt(float64(p.Cin*p.KH*p.KW)))
	if p.Bias {
		b = randSlice(r, p.Cout, 0.5)
	}
	return
}

func dwconvInputs(r *rand.Rand, p op.DWConv) (x, w, b []float32) {
	x = randSlice(r, p.C*p.H*p.W, 1)
	w = randSlice(r, p.C*p.KH*p.KW, 1/math.Sqrt(float64(p.KH*p.KW)))
	if p.Bias {
		b = randSlice(r, p.C, 0.5)
	}
	return
}

func TestConv2DForwardVsFloat64(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, tc := range conv2dCases {
		x, w, b := conv2dInputs(r, tc.p)
		y, err := Conv2D(x, w, b, tc.p)
		mustf(t, "conv2d/"+tc.name, err)
		compareBound(t, "conv2d", tc.name, y, conv2dRef64(x, w, b, tc.p))
	}
}

func TestDWConvForwardVsFloat64(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for _, tc := range dwconvCases {
		x, w, b := dwconvInputs(r, tc.p)
		y, err := DWConv(x, w, b, tc.p)
		mustf(t, "dwconv/"+tc.name, err)
		compareBound(t, "dwconv", tc.name, y, dwconvRef64(x, w, b, tc.p))
	}
}

// Conv2D and DWConv are linear in x, so the central difference has no
// truncation error at any step: h = 0.5 keeps the float32 rounding of the
// affected outputs (≲ 1e-6 each for these sizes) divided by 2h far below the
// tolerance 1e-4 + 1e-4·|fd|, while a wrong tap or border gives O(0.1) errors.
func TestConv2DGradInputFiniteDiff(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, tc := range conv2dCases {
		x, w, b := conv2dInputs(r, tc.p)
		dy := randSlice(r, tc.p.Cout*tc.p.OutH()*tc.p.OutW(), 1)
		dx, err := Conv2DGradInput(dy, w, tc.p)
		mustf(t, "conv2d grad/"+tc.name, err)
		gradCheck(t, "conv2d", tc.name, x, dy, dx, func(x []float32) ([]float32, error) { return Conv2D(x, w, b, tc.p) }, 0.5, 1e-4, 1e-4, 60)
	}
}

func TestDWConvGradInputFiniteDiff(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	for _, tc := range dwconvCases {
		x, w, b := dwconvInputs(r, tc.p)
		dy := randSlice(r, tc.p.C*tc.p.OutH()*tc.p.OutW(), 1)
		dx, err := DWConvGradInput(dy, w, tc.p)
		mustf(t, "dwconv grad/"+tc.name, err)
		gradCheck(t, "dwconv", tc.name, x, dy, dx, func(x []float32) ([]float32, error) { return DWConv(x, w, b, tc.p) }, 0.5, 1e-4, 1e-4, 60)
	}
}

// The gradient of a linear map is its adjoint: ⟨dy, f(x)⟩ = ⟨f*(dy), x⟩ for
// every x. Checked on every coordinate at once, in float64, tolerance from
// the summation bound of the two float32 computations (rtol 1e-5 of Σ|terms|).
func TestConvAdjointIdentity(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, tc := range conv2dCases {
		p := tc.p
		p.Bias = false
		x, w, _ := conv2dInputs(r, p)
		dy := randSlice(r, p.Cout*p.OutH()*p.OutW(), 1)
		y, _ := Conv2D(x, w, nil, p)
		dx, _ := Conv2DGradInput(dy, w, p)
		adjointCheck(t, "conv2d", tc.name, x, y, dx, dy)
	}
	for _, tc := range dwconvCases {
		p := tc.p
		p.Bias = false
		x, w, _ := dwconvInputs(r, p)
		dy := randSlice(r, p.C*p.OutH()*p.OutW(), 1)
		y, _ := DWConv(x, w, nil, p)
		dx, _ := DWConvGradInput(dy, w, p)
		adjointCheck(t, "dwconv", tc.name, x, y, dx, dy)
	}
}

func adjointCheck(t *testing.T, opName, caseName string, x, y, dx, dy []float32) {
	t.Helper()
	a, b, mag := 0.0, 0.0, 0.0
	for i := range y {
		a += float64(dy[i]) * float64(y[i])
		mag += math.Abs(float64(dy[i]) * float64(y[i]))
	}
	for i := range x {
		b += float64(dx[i]) * float64(x[i])
		mag += math.Abs(float64(dx[i]) * float64(x[i]))
	}
	if math.Abs(a-b) > 1e-5*mag {
		t.Errorf("%s/%s: <dy, f(x)> = %.9g but <f*(dy), x> = %.9g", opName, caseName, a, b)
	}
}

// Hand-computed: a 3×3 map, 2×2 kernel [[1,2],[3,4]], no padding:
// y[0,0] = 1·1+2·2+3·4+4·5 = 37, y[0,1] = 2+6+15+24 = 47, y[1,0] = 67, y[1,1] = 77; +bias 0.5.
func TestConv2DHand(t *testing.T) {
	x := []float32{1, 2, 3, 4, 5, 6, 7, 8, 9}
	w := []float32{1, 2, 3, 4}
	p := op.Conv2D{Cin: 1, H: 3, W: 3, Cout: 1, KH: 2, KW: 2, Stride: 1, Bias: true}
	y, err := Conv2D(x, w, []float32{0.5}, p)
	mustf(t, "conv2d hand", err)
	approxEq(t, "conv2d/hand_2x2", y, []float64{37.5, 47.5, 67.5, 77.5}, 0)
	// stride 2, pad 1, 3×3 kernel of ones on the same map: out 2×2
	// y[0,0] = x[0..1,0..1] = 1+2+4+5 = 12, y[0,1] = 2+3+5+6 = 16, y[1,0] = 4+5+7+8 = 24, y[1,1] = 28.
	p2 := op.Conv2D{Cin: 1, H: 3, W: 3, Cout: 1, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1}
	y2, err := Conv2D(x, []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}, nil, p2)
	mustf(t, "conv2d hand s2", err)
	approxEq(t, "conv2d/hand_3x3s2p1", y2, []float64{12, 16, 24, 28}, 0)
	// grad of the first: dy = ones → dx = how many times each w tap touches a pixel
	dx, err := Conv2DGradInput([]float32{1, 1, 1, 1}, w, p)
	mustf(t, "conv2d hand grad", err)
	approxEq(t, "conv2d/hand_grad", dx, []float64{1, 3, 2, 4, 10, 6, 3, 7, 4}, 0)
}

// Hand-computed depthwise: two channels, 1×3 kernel with pad (0,1):
// channel 0 x = [1 2 3], w = [1 0 −1] → y = [0−2, 1−3, 2−0] = [−2, −2, 2];
// channel 1 x = [1 1 1], w = [1 1 1], bias 1 → [3, 4, 3].
func TestDWConvHand(t *testing.T) {
	p := op.DWConv{C: 2, H: 1, W: 3, KH: 1, KW: 3, Stride: 1, PadW: 1, Bias: true}
	y, err := DWConv([]float32{1, 2, 3, 1, 1, 1}, []float32{1, 0, -1, 1, 1, 1}, []float32{0, 1}, p)
	mustf(t, "dwconv hand", err)
	approxEq(t, "dwconv/hand", y, []float64{-2, -2, 2, 3, 4, 3}, 0)
}

func TestConvErrors(t *testing.T) {
	p := op.Conv2D{Cin: 2, H: 4, W: 4, Cout: 3, KH: 3, KW: 3, Stride: 1, Bias: true}
	x, w, b := make([]float32, 32), make([]float32, 54), make([]float32, 3)
	for _, c := range []struct {
		name string
		err  error
	}{
		{"short x", func() error { _, e := Conv2D(x[:31], w, b, p); return e }()},
		{"short w", func() error { _, e := Conv2D(x, w[:53], b, p); return e }()},
		{"nil bias", func() error { _, e := Conv2D(x, w, nil, p); return e }()},
		{"zero stride", func() error { q := p; q.Stride = 0; _, e := Conv2D(x, w, b, q); return e }()},
		{"kernel > padded", func() error { q := p; q.KH = 5; _, e := Conv2D(x, make([]float32, 90), b, q); return e }()},
		{"grad short dy", func() error { _, e := Conv2DGradInput(make([]float32, 11), w, p); return e }()},
		{"dw short w", func() error {
			_, e := DWConv(x, w[:1], nil, op.DWConv{C: 2, H: 4, W: 4, KH: 3, KW: 3, Stride: 1})
			return e
		}()},
		{"dw grad zero C", func() error {
			_, e := DWConvGradInput(nil, nil, op.DWConv{H: 4, W: 4, KH: 3, KW: 3, Stride: 1})
			return e
		}()},
	} {
		if c.err == nil {
			t.Errorf("conv/%s: no error", c.name)
		} else if msg := c.err.Error(); msg[:len("conv2d")] != "conv2d" && msg[:len("dwconv")] != "dwconv" {
			t.Errorf("conv/%s: error %q does not name the op", c.name, msg)
		}
	}
}
