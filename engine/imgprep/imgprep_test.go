package imgprep

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestErrors(t *testing.T) {
	pix := make([]uint8, 4*3*3)
	cases := []struct {
		name string
		w, h int
		pix  []uint8
		m    Mode
	}{
		{"zero width", 0, 3, nil, Eval},
		{"zero height", 4, 0, nil, Eval},
		{"over the default 50 MP", 10000, 5001, nil, Eval},
		{"over a custom limit", 4, 3, pix, Mode{Resize: 256, Size: 224, MaxPixels: 11}},
		{"negative limit", 4, 3, pix, Mode{Resize: 256, Size: 224, MaxPixels: -1}},
		{"neither RGB nor RGBA", 4, 3, pix[:35], Eval},
		{"crop larger than resize", 4, 3, pix, Mode{Resize: 200, Size: 224}},
		{"zero output", 4, 3, pix, WarpTo(0)},
	}
	for _, c := range cases {
		_, _, err := Preprocess(c.pix, c.w, c.h, c.m)
		if err == nil {
			t.Errorf("%s: no error", c.name)
		} else if !errors.Is(err, ErrImage) {
			t.Errorf("%s: error %v does not wrap ErrImage", c.name, err)
		}
	}
	// The limit is inclusive: exactly MaxPixels is accepted.
	if _, _, err := Preprocess(pix, 4, 3, Mode{Resize: 256, Size: 224, MaxPixels: 12}); err != nil {
		t.Errorf("exactly at the limit: %v", err)
	}
}

// RGBA input gives the same bytes as RGB: alpha is dropped like PIL's
// convert("RGB").
func TestRGBAEqualsRGB(t *testing.T) {
	w, h := 203, 157
	rgb := synth(w, h)
	rgba := make([]uint8, w*h*4)
	for i := 0; i < w*h; i++ {
		copy(rgba[i*4:], rgb[i*3:i*3+3])
		rgba[i*4+3] = uint8(i * 37) // arbitrary alpha
	}
	for _, m := range []Mode{Eval, WarpTo(97)} {
		a, ca, err := Preprocess(rgb, w, h, m)
		if err != nil {
			t.Fatal(err)
		}
		b, cb, err := Preprocess(rgba, w, h, m)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a, b) || ca != cb {
			t.Errorf("mode %+v: RGBA result differs from RGB", m)
		}
	}
}

// The crop rectangle maps back to original coordinates: for a 400×300 image
// resized to 341×256 and cropped at (58, 16), the square spans
// x ∈ [58·400/341, 282·400/341), y ∈ [16·300/256, 240·300/256).
func TestCropRect(t *testing.T) {
	p, err := NewPlan(400, 300, Eval)
	if err != nil {
		t.Fatal(err)
	}
	c := p.Crop
	want := Crop{ResizedW: 341, ResizedH: 256, Left: 58, Top: 16, Size: 224,
		X0: 58 * 400.0 / 341, X1: 282 * 400.0 / 341, Y0: 16 * 300.0 / 256, Y1: 240 * 300.0 / 256}
	if c.ResizedW != want.ResizedW || c.ResizedH != want.ResizedH || c.Left != want.Left || c.Top != want.Top || c.Size != want.Size {
		t.Fatalf("crop %+v, want %+v", c, want)
	}
	for _, v := range [][2]float64{{c.X0, want.X0}, {c.X1, want.X1}, {c.Y0, want.Y0}, {c.Y1, want.Y1}} {
		if math.Abs(v[0]-v[1]) > 1e-12 {
			t.Errorf("crop corner %g, want %g", v[0], v[1])
		}
	}
	// Warp: the whole image.
	p, _ = NewPlan(451, 300, WarpTo(1024))
	if c := p.Crop; c.X0 != 0 || c.Y0 != 0 || c.X1 != 451 || c.Y1 != 300 {
		t.Errorf("warp crop %+v, want the whole 451×300 image", c)
	}
}

// The fixed-point coefficients of each output sum to 1<<22 up to the
// rounding of each one (±0.5 each), and a same-size axis is the identity.
func TestCoeffs(t *testing.T) {
	for _, c := range []struct{ in, out int }{{451, 384}, {1, 256}, {1000, 256000}, {1201, 512}, {3, 384}, {256, 256}} {
		n := min(c.out, 300)
		k := coeffs(c.in, c.out, 0, n)
		for i := 0; i < n; i++ {
			s := int64(0)
			for x := 0; x < int(k.Count[i]); x++ {
				s += int64(k.K[i*k.KSize+x])
			}
			if d := s - 1<<PrecisionBits; d < -int64(k.Count[i]) || d > int64(k.Count[i]) {
				t.Errorf("coeffs %d→%d: output %d sums to %d, want 1<<22 ± %d", c.in, c.out, i, s, k.Count[i])
			}
			if k.Min[i] < 0 || int(k.Min[i]+k.Count[i]) > c.in || int(k.Count[i]) > k.KSize {
				t.Errorf("coeffs %d→%d: output %d reads [%d, +%d) of %d (ksize %d)", c.in, c.out, i, k.Min[i], k.Count[i], c.in, k.KSize)
			}
		}
	}
	pix := synth(256, 256)
	p, _ := NewPlan(256, 256, Eval)
	got, _ := p.Resample(pix)
	for y := 0; y < 224; y++ {
		for x := 0; x < 224; x++ {
			for ch := 0; ch < 3; ch++ {
				if got[(y*224+x)*3+ch] != pix[((y+16)*256+x+16)*3+ch] {
					t.Fatalf("256×256 eval is not a plain crop at (%d,%d,%d)", x, y, ch)
				}
			}
		}
	}
}
