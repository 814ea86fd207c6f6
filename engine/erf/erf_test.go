package erf

import (
	"math"
	"math/rand/v2"
	"testing"
)

// plainAreaRatios is analyze_erf.py written out literally: each window summed
// from scratch, the threshold compared with a strict '>'.
func plainAreaRatios(p []float32, h, w int, ts []float64) []Ratio {
	var total float64
	for _, v := range p {
		total += float64(v)
	}
	var out []Ratio
	for _, t := range ts {
		r := Ratio{T: t}
		for i := 1; i < min(h, w)/2; i++ {
			var s float64
			for y := h/2 - i; y < h/2+i+1; y++ {
				for x := w/2 - i; x < w/2+i+1; x++ {
					s += float64(p[y*w+x])
				}
			}
			if s/total > t {
				side := 2*i + 1
				r = Ratio{T: t, Found: true, Side: side, R: float64(side*side) / float64(h*w)}
				break
			}
		}
		out = append(out, r)
	}
	return out
}

func TestAreaRatiosUniform(t *testing.T) {
	// A uniform 9×9 map: windows of side 3, 5, 7 hold 9/81, 25/81, 49/81.
	p := make([]float32, 81)
	for i := range p {
		p[i] = 1
	}
	got, err := AreaRatios(p, 9, 9, Thresholds)
	if err != nil {
		t.Fatal(err)
	}
	want := []Ratio{
		{0.2, true, 5, 25.0 / 81}, {0.3, true, 5, 25.0 / 81}, {0.5, true, 7, 49.0 / 81},
		{0.99, false, 0, 0}, // the largest examined window (side 7) holds only 60%
	}
	for i := range want {
		if got[i].Found != want[i].Found || got[i].Side != want[i].Side || math.Abs(got[i].R-want[i].R) > 1e-12 {
			t.Errorf("t=%g: got %+v, want %+v", want[i].T, got[i], want[i])
		}
	}
}

func TestAreaRatiosMatchPlain(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][2]int{{32, 32}, {56, 56}, {33, 47}, {64, 64}} {
		h, w := sz[0], sz[1]
		for trial := 0; trial < 5; trial++ {
			a := make([]float32, h*w)
			sigma := 1 + 10*rng.Float64()
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					d2 := float64((y-h/2)*(y-h/2) + (x-w/2)*(x-w/2))
					a[y*w+x] = float32(100*math.Exp(-d2/(2*sigma*sigma)) + rng.Float64()*0.5)
				}
			}
			p := Normalize(a, Log)
			got, err := AreaRatios(p, h, w, Thresholds)
			if err != nil {
				t.Fatal(err)
			}
			want := plainAreaRatios(p, h, w, Thresholds)
			for i := range want {
				if got[i].Found != want[i].Found || got[i].Side != want[i].Side {
					t.Errorf("%dx%d trial %d t=%g: got %+v, want %+v", h, w, trial, want[i].T, got[i], want[i])
				}
			}
		}
	}
}

func TestAreaRatiosErrors(t *testing.T) {
	if _, err := AreaRatios(make([]float32, 10), 3, 3, Thresholds); err == nil {
		t.Error("size mismatch accepted")
	}
	if _, err := AreaRatios(make([]float32, 9), 3, 3, Thresholds); err == nil {
		t.Error("all-zero map accepted")
	}
}

func TestNormalize(t *testing.T) {
	a := []float32{0, 9, 99, float32(math.NaN()), -1}
	p := Normalize(a, Log) // log10(1)=0, log10(10)=1, log10(100)=2
	want := []float32{0, 0.5, 1, 0, 0}
	for i := range want {
		if math.Abs(float64(p[i]-want[i])) > 1e-6 {
			t.Errorf("log[%d] = %g, want %g", i, p[i], want[i])
		}
	}
	p = Normalize(a, Linear)
	if p[1] != float32(9.0/99) || p[2] != 1 {
		t.Errorf("linear = %v", p)
	}
	if z := Normalize(make([]float32, 3), Log); z[0] != 0 {
		t.Errorf("zero map: %v", z)
	}
}

func TestMean(t *testing.T) {
	var m Mean
	if m.Value() != nil {
		t.Error("empty mean not nil")
	}
	_ = m.Add([]float32{1, 2})
	_ = m.Add([]float32{3, float32(math.NaN())})
	_ = m.Add([]float32{3, 4})
	if v := m.Value(); m.N != 2 || m.Skipped != 1 || v[0] != 2 || v[1] != 3 {
		t.Errorf("mean %v n=%d skipped=%d", v, m.N, m.Skipped)
	}
	if err := m.Add([]float32{1}); err == nil {
		t.Error("size mismatch accepted")
	}
}

func TestColormap(t *testing.T) {
	if r, g, b := Viridis.RGB(0); r != 68 || g != 1 || b != 84 {
		t.Errorf("viridis(0) = %d,%d,%d", r, g, b)
	}
	if r, g, b := Viridis.RGB(2); r != 253 || g != 231 || b != 37 {
		t.Errorf("viridis(1) = %d,%d,%d (clamped)", r, g, b)
	}
	img := Cividis.RGBA([]float32{0, 1}, 200)
	if len(img) != 8 || img[3] != 200 {
		t.Errorf("RGBA = %v", img)
	}
}
