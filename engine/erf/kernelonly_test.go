package erf

import (
	"fmt"
	"math"
	"testing"

	"github.com/slak-web/slak/engine/model"
)

// bruteLayer is one forward cross-correlation of the brute-force kernel-only
// network, written independently of kernelonly.go.
type bruteLayer struct {
	k              []float64
	kh, kw, st, pd int
}

// forward: y[oy, ox] = Σ_{ky,kx} k[ky,kx] · x[oy·st+ky−pd, ox·st+kx−pd], zero padding.
func (l bruteLayer) forward(x []float64, h, w int) ([]float64, int, int) {
	oh, ow := (h+2*l.pd-l.kh)/l.st+1, (w+2*l.pd-l.kw)/l.st+1
	y := make([]float64, oh*ow)
	for oy := 0; oy < oh; oy++ {
		for ox := 0; ox < ow; ox++ {
			var s float64
			for ky := 0; ky < l.kh; ky++ {
				for kx := 0; kx < l.kw; kx++ {
					iy, ix := oy*l.st+ky-l.pd, ox*l.st+kx-l.pd
					if iy >= 0 && iy < h && ix >= 0 && ix < w {
						s += l.k[ky*l.kw+kx] * x[iy*w+ix]
					}
				}
			}
			y[oy*ow+ox] = s
		}
	}
	return y, oh, ow
}

// bruteNet builds the KernelOnly network of v from the doc comment: the
// channel-mean |merged kernel| per LK layer (Merge of the raw deploy slices)
// and all-ones geometry layers.
func bruteNet(t *testing.T, v model.Variant, d model.StateDict) []bruteLayer {
	t.Helper()
	one := func(k, st, pd int) bruteLayer {
		w := make([]float64, k*k)
		for i := range w {
			w[i] = 1
		}
		return bruteLayer{w, k, k, st, pd}
	}
	lk := func(l LKLayer) bruteLayer {
		K, N := l.K, l.N
		kbar := make([]float64, K*K)
		for c := 0; c < l.C; c++ {
			sl := func(i, per int) []float32 { return d[l.Branches[i]].Data[c*per : (c+1)*per] }
			var m []float32
			switch v.Family {
			case model.SLaK:
				m, _ = Merge(sl(0, K*N), sl(1, N*K), sl(2, N*N), K, N)
			case model.ConvNeXt:
				m = sl(0, K*K)
			case model.RepLKNet:
				m, _ = Merge(nil, nil, sl(1, N*N), K, N)
				for i, x := range sl(0, K*K) {
					m[i] += x
				}
			}
			for i, x := range m {
				kbar[i] += math.Abs(float64(x)) / float64(l.C)
			}
		}
		return bruteLayer{kbar, K, K, 1, K / 2}
	}
	var net []bruteLayer
	if v.Family == model.RepLKNet {
		net = append(net, one(3, 2, 1), one(3, 1, 1), one(3, 2, 1))
	} else {
		net = append(net, one(4, 4, 0))
	}
	for st := 0; st < 4; st++ {
		for _, l := range LKLayers(v) {
			if l.Stage != st {
				continue
			}
			if st > 0 && l.Block == 0 {
				if v.Family == model.RepLKNet {
					net = append(net, one(3, 2, 1))
				} else {
					net = append(net, one(2, 2, 0))
				}
			}
			net = append(net, lk(l))
		}
	}
	return net
}

// TestKernelOnlyBruteForce: KernelOnly (transposed correlations, backwards)
// equals the brute-force composition KO[y, x] = (L δ_{y,x})[h/2, w/2] with L
// run forward for every input pixel, up to the common max-1 scaling, on the
// three tiny families with 40 %-sparse random weights and odd sizes.
// Tolerance 1e-12 of the max: both sides are float64 sums of the same
// non-negative products in different orders (≈ 40 layers, relative rounding
// ~1e-15 per operation), the result is cast to float32 (≈6e-8 relative),
// so the bound is 1e-6 relative to each value plus 1e-12 of the max.
func TestKernelOnlyBruteForce(t *testing.T) {
	for _, c := range []struct {
		name string
		s    int
	}{{"slak_tiny", 71}, {"convnext_tiny", 67}, {"replknet_tiny", 45}} {
		v, d := randomDeploy(t, c.name, 5, 0.4)
		got, err := KernelOnly(v, d, c.s)
		if err != nil {
			t.Fatal(err)
		}
		net := bruteNet(t, v, d)
		want := make([]float64, c.s*c.s)
		var mx float64
		for p := range want {
			x := make([]float64, c.s*c.s)
			x[p] = 1
			h, w := c.s, c.s
			for _, l := range net {
				x, h, w = l.forward(x, h, w)
			}
			want[p] = x[(h/2)*w+w/2]
			mx = math.Max(mx, want[p])
		}
		worst := 0.0
		for p := range want {
			wv := want[p] / mx
			e := math.Abs(float64(got.Data[p]) - wv)
			worst = math.Max(worst, e)
			if e > 1e-6*wv+1e-12 {
				t.Fatalf("%s at %d²: KO(y=%d, x=%d) = %g, brute force %g", c.name, c.s, p/c.s, p%c.s, got.Data[p], wv)
			}
		}
		// The map must not be trivially symmetric (a kernel flip would then go
		// unnoticed): the random kernels make it asymmetric.
		asym := 0.0
		for y := 0; y < c.s; y++ {
			for x := 0; x < c.s; x++ {
				asym = math.Max(asym, math.Abs(want[y*c.s+x]-want[(c.s-1-y)*c.s+(c.s-1-x)])/mx)
			}
		}
		if asym < 1e-3 {
			t.Errorf("%s: brute-force map is point-symmetric (%.2g): the test could not see a flipped kernel", c.name, asym)
		}
		t.Logf("%s at %d²: max error %.2e, asymmetry %.2f", c.name, c.s, worst, asym)
	}
}

// TestKernelOnlyFull: full-size maps are cheap, and a 51×51 SLaK reaches
// wider than a 7×7 ConvNeXt under the same random weights (the area ratio
// at 50 % of the kernel-only map is larger).
func TestKernelOnlyFull(t *testing.T) {
	r := map[string]float64{}
	for _, name := range []string{"slak_t", "convnext_t"} {
		v, d := randomDeploy(t, name, 1, 0.4)
		m, err := KernelOnly(v, d, 224)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := AreaRatios(m.Data, m.H, m.W, []float64{0.5})
		if err != nil {
			t.Fatal(err)
		}
		r[name] = rs[0].R
		t.Logf("%s kernel-only at 224²: %v", name, rs[0])
	}
	if !(r["slak_t"] > r["convnext_t"]) {
		t.Errorf("kernel-only r(50%%): SLaK-T %g ≤ ConvNeXt-T %g", r["slak_t"], r["convnext_t"])
	}
	if _, err := KernelOnly(mustVariant(t, "slak_tiny"), model.StateDict{}, 64); err == nil {
		t.Error("KernelOnly without weights: no error")
	}
}

// BenchmarkKernelOnly: SLaK-T, the costliest variant, at 224² and 1024².
func BenchmarkKernelOnly(b *testing.B) {
	v, d := randomDeploy(b, "slak_t", 1, 0.4)
	for _, s := range []int{224, 1024} {
		b.Run(fmt.Sprint(s), func(b *testing.B) {
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := KernelOnly(v, d, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
