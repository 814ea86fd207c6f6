package erf

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/slak-web/slak/engine/model"
)

func randomDeploy(t testing.TB, name string, seed uint64, sparsity float64) (model.Variant, model.StateDict) {
	t.Helper()
	v := mustVariant(t, name)
	d, err := model.RandomWeights(v, seed, sparsity)
	if err != nil {
		t.Fatal(err)
	}
	return v, d
}

// TestVariantRF: theoretical receptive fields, rf = 1 + Σ_l (k_l − 1)·Π_{m<l} s_m,
// by hand:
//
//	SLaK-T:     1 + 3 (stem 4×4/4) + 3·50·4 + 1·4 + 3·48·8 + 1·8 + 9·46·16 + 1·16 + 3·12·32
//	          = 1 + 3 + 600 + 4 + 1152 + 8 + 6624 + 16 + 1152 = 9560
//	ConvNeXt-T: 1 + 3 + 3·6·4 + 4 + 3·6·8 + 8 + 9·6·16 + 16 + 3·6·32
//	          = 1 + 3 + 72 + 4 + 144 + 8 + 864 + 16 + 576 = 1688
//	RepLKNet-31B: stem 3×3/2, 3×3/1, 3×3/2: 1 + 2 + 2·2 + 2·2 = 11 (jump 4);
//	          + 2·30·4 = 240, transition +2·4 = 8 (jump 8), + 2·28·8 = 448, +16 (jump 16),
//	          + 18·26·16 = 7488, +32 (jump 32), + 2·12·32 = 768 → 11+240+8+448+16+7488+32+768 = 9011
func TestVariantRF(t *testing.T) {
	for _, c := range []struct {
		name string
		rf   int
	}{{"slak_t", 9560}, {"convnext_t", 1688}, {"replknet_31b", 9011}, {"slak_tiny", 1 + 3 + 12*4 + 4 + 10*8 + 8 + 2*8*16 + 16 + 6*32}} {
		h, w := VariantRF(mustVariant(t, c.name))
		if h != c.rf || w != c.rf {
			t.Errorf("VariantRF(%s) = %d×%d, want %d×%d", c.name, h, w, c.rf, c.rf)
		}
	}
}

func TestLKLayers(t *testing.T) {
	v := mustVariant(t, "slak_t")
	ls := LKLayers(v)
	if len(ls) != 18 || ls[17].Stage != 3 || ls[17].Block != 2 || ls[17].C != 998 || ls[17].K != 13 || ls[6].Prefix != "stages.2.0." {
		t.Fatalf("LKLayers(slak_t): %d layers, last %+v, 7th %+v", len(ls), ls[len(ls)-1], ls[6])
	}
	// Every branch key is a deploy key of the right shape.
	for _, name := range []string{"slak_t", "convnext_t", "replknet_31b", "slak_tiny", "convnext_tiny", "replknet_tiny"} {
		v := mustVariant(t, name)
		keys := map[string][]int{}
		for _, e := range model.DeployKeys(v) {
			keys[e.Key] = e.Shape
		}
		for _, l := range LKLayers(v) {
			for _, k := range l.Branches {
				if s, ok := keys[k]; !ok || s[0] != l.C || s[1] != 1 {
					t.Errorf("%s layer %d: branch %s shape %v (present %v)", name, l.Index, k, s, ok)
				}
			}
		}
	}
}

// TestKernels: the viewer data are the deploy slices of the channel, merged
// as Merge does, and density counts the layer's zeros.
func TestKernels(t *testing.T) {
	for _, name := range []string{"slak_tiny", "convnext_tiny", "replknet_tiny"} {
		v, d := randomDeploy(t, name, 7, 0.4)
		for _, l := range LKLayers(v) {
			c := l.C - 2 // not the first channel, so the slice offset matters
			tall, wide, small, merged, dens, err := Kernels(d, v, l.Index, c)
			if err != nil {
				t.Fatal(err)
			}
			K, N := l.K, l.N
			slice := func(key string, per int) []float32 { return d[key].Data[c*per : (c+1)*per] }
			var want []float32
			var nz, total int
			for _, k := range l.Branches {
				for _, x := range d[k].Data {
					if x != 0 {
						nz++
					}
				}
				total += len(d[k].Data)
			}
			switch v.Family {
			case model.SLaK:
				want, _ = Merge(slice(l.Branches[0], K*N), slice(l.Branches[1], N*K), slice(l.Branches[2], N*N), K, N)
				if !same(tall, slice(l.Branches[0], K*N)) || !same(wide, slice(l.Branches[1], N*K)) || !same(small, slice(l.Branches[2], N*N)) {
					t.Errorf("%s layer %d: branch slices differ", name, l.Index)
				}
			case model.ConvNeXt:
				want = slice(l.Branches[0], K*K)
				if tall != nil || wide != nil || small != nil {
					t.Errorf("%s: ConvNeXt has only a merged kernel", name)
				}
			case model.RepLKNet:
				want = append([]float32(nil), slice(l.Branches[0], K*K)...)
				s := slice(l.Branches[1], N*N)
				for y := 0; y < N; y++ {
					for x := 0; x < N; x++ {
						want[(y+(K-N)/2)*K+x+(K-N)/2] += s[y*N+x]
					}
				}
			}
			if !same(merged, want) {
				t.Errorf("%s layer %d channel %d: merged kernel differs", name, l.Index, c)
			}
			if dens != float64(nz)/float64(total) || dens > 0.7 || dens < 0.5 {
				t.Errorf("%s layer %d: density %g, want %g (≈0.6 for 40%% sparse weights)", name, l.Index, dens, float64(nz)/float64(total))
			}
		}
		if _, _, _, _, _, err := Kernels(d, v, len(LKLayers(v)), 0); err == nil {
			t.Errorf("%s: Kernels past the last layer: no error", name)
		}
		if _, _, _, _, _, err := Kernels(d, v, 0, v.Dims[0]); err == nil {
			t.Errorf("%s: Kernels with channel = C: no error", name)
		}
	}
}

func same(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRemask: every LK tensor gets exactly round(s·n) zeros (dense random
// weights start with none), each kept |w| ≥ each dropped |w|, everything else
// is untouched and shared, and deploy itself is not modified.
func TestRemask(t *testing.T) {
	for _, name := range []string{"slak_tiny", "convnext_tiny", "replknet_tiny"} {
		v, d := randomDeploy(t, name, 3, 0)
		before := map[string][]float32{}
		for k, p := range d {
			before[k] = append([]float32(nil), p.Data...)
		}
		for _, s := range []float64{0, 0.37, 0.9} {
			r, err := Remask(d, v, s)
			if err != nil {
				t.Fatal(err)
			}
			lk := map[string]bool{}
			for _, l := range LKLayers(v) {
				for _, k := range l.Branches {
					lk[k] = true
					w := r[k].Data
					zeros, maxDropped, minKept := 0, 0.0, math.Inf(1)
					for i, x := range w {
						a := math.Abs(float64(d[k].Data[i]))
						if x == 0 {
							zeros++
							maxDropped = math.Max(maxDropped, a)
						} else {
							if x != d[k].Data[i] {
								t.Fatalf("%s %s s=%g: kept weight %d changed", name, k, s, i)
							}
							minKept = math.Min(minKept, a)
						}
					}
					if want := int(math.Round(s * float64(len(w)))); zeros != want || maxDropped > minKept {
						t.Errorf("%s %s s=%g: %d zeros (want %d), max dropped |w| %g, min kept %g", name, k, s, zeros, want, maxDropped, minKept)
					}
				}
			}
			for k, p := range r {
				if !lk[k] && &p.Data[0] != &d[k].Data[0] {
					t.Errorf("%s s=%g: non-LK %s was copied or changed", name, s, k)
				}
			}
		}
		for k, p := range d {
			if !same(p.Data, before[k]) {
				t.Errorf("%s: Remask modified deploy[%s]", name, k)
			}
		}
		for _, s := range []float64{-0.1, 0.95, math.NaN()} {
			if _, err := Remask(d, v, s); err == nil {
				t.Errorf("%s: Remask(%g): no error", name, s)
			}
		}
	}
}

// BenchmarkRemaskSLaKT measures a slider move on SLaK-T's 3.3 M LK weights.
func BenchmarkRemaskSLaKT(b *testing.B) {
	v, d := randomDeploy(b, "slak_t", 1, 0.4)
	n := 0
	for _, l := range LKLayers(v) {
		for _, k := range l.Branches {
			n += len(d[k].Data)
		}
	}
	b.ReportMetric(float64(n), "lk-weights")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Remask(d, v, 0.6); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleKernels() {
	v, _ := model.Lookup("slak_tiny")
	d, _ := model.RandomWeights(v, 1, 0.4)
	tall, wide, small, merged, density, _ := Kernels(d, v, 0, 0)
	fmt.Println(len(tall), len(wide), len(small), len(merged), density > 0.5 && density < 0.7)
	// Output: 65 65 25 169 true
}

// stableMask is the definition of MaskByMagnitude written plainly: a stable
// sort of the indices by |w|, the first round(s·n) zeroed.
func stableMask(w []float32, s float64) []float32 {
	out := append([]float32(nil), w...)
	idx := make([]int, len(w))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return math.Abs(float64(w[idx[a]])) < math.Abs(float64(w[idx[b]])) })
	for _, i := range idx[:int(math.Round(s*float64(len(w))))] {
		out[i] = 0
	}
	return out
}

// TestMaskByMagnitudeTies: the threshold implementation equals the stable
// sort on data full of ties (values from 7 levels, both signs, zeros).
func TestMaskByMagnitudeTies(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 2, 7, 249, 1000} {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(rng.IntN(7)-3) * 0.25
		}
		for _, s := range []float64{0, 0.1, 0.4, 0.5, 0.9, 1} {
			got, err := MaskByMagnitude(w, s)
			if err != nil {
				t.Fatal(err)
			}
			if want := stableMask(w, s); !same(got, want) {
				t.Fatalf("n=%d s=%g: got %v, want %v", n, s, got, want)
			}
		}
	}
}
