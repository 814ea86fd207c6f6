package erf

import (
	"math/rand/v2"
	"testing"
)

// The merged kernel applied as one K×K depthwise correlation must equal the
// sum of the three branches, each applied with its own "same" padding.
func TestMergeEqualsBranches(t *testing.T) {
	const k, n, h, w = 9, 5, 7, 11
	rng := rand.New(rand.NewPCG(3, 4))
	rnd := func(m int) []float32 {
		v := make([]float32, m)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	tall, wide, small, x := rnd(k*n), rnd(n*k), rnd(n*n), rnd(h*w)
	corr := func(ker []float32, kh, kw int) []float32 {
		y := make([]float32, h*w)
		for oy := 0; oy < h; oy++ {
			for ox := 0; ox < w; ox++ {
				var s float32
				for ky := 0; ky < kh; ky++ {
					for kx := 0; kx < kw; kx++ {
						iy, ix := oy+ky-kh/2, ox+kx-kw/2
						if iy >= 0 && iy < h && ix >= 0 && ix < w {
							s += ker[ky*kw+kx] * x[iy*w+ix]
						}
					}
				}
				y[oy*w+ox] = s
			}
		}
		return y
	}
	m, err := Merge(tall, wide, small, k, n)
	if err != nil {
		t.Fatal(err)
	}
	got := corr(m, k, k)
	a, b, c := corr(tall, k, n), corr(wide, n, k), corr(small, n, n)
	for i := range got {
		// float32 sums of ≤ 81 terms of magnitude ~1–3: 1e-4 is ~100 ulps of the result.
		if d := got[i] - (a[i] + b[i] + c[i]); d > 1e-4 || d < -1e-4 {
			t.Fatalf("pixel %d: merged %g, branches %g", i, got[i], a[i]+b[i]+c[i])
		}
	}
	if _, err := Merge(tall, wide, small, 8, 5); err == nil {
		t.Error("even K accepted")
	}
	if _, err := Merge(tall[:3], wide, small, k, n); err == nil {
		t.Error("short branch accepted")
	}
}

func TestMaskByMagnitude(t *testing.T) {
	w := []float32{0.5, -0.1, 0.3, -0.9, 0.05, 0}
	got, err := MaskByMagnitude(w, 0.5) // drop 3: 0, 0.05, -0.1
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{0.5, 0, 0.3, -0.9, 0, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if d := Density(got); d != 0.5 {
		t.Errorf("density %g", d)
	}
	if w[1] != -0.1 {
		t.Error("input modified")
	}
	if _, err := MaskByMagnitude(w, 1.5); err == nil {
		t.Error("sparsity 1.5 accepted")
	}
}

func TestTheoreticalRF(t *testing.T) {
	// Two 3×3 stride-1 convs see 5×5; a 2×2/s2 then a 3×3 sees 2 + 2·2 = 6.
	if h, w := TheoreticalRF([]Layer{{3, 3, 1}, {3, 3, 1}}); h != 5 || w != 5 {
		t.Errorf("got %d×%d", h, w)
	}
	if h, w := TheoreticalRF([]Layer{{2, 2, 2}, {3, 5, 1}}); h != 6 || w != 10 {
		t.Errorf("got %d×%d", h, w)
	}
}
