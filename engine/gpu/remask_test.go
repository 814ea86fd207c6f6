//go:build !js

package gpu_test

import (
	"math"
	"math/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slak-web/slak/engine/erf"
	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/model"
)

var (
	rmOnce sync.Once
	rmB    *gpu.Backend
	rmErr  error
)

// remaskBackend opens a GPU backend for this external test package (engine/erf imports engine/gpu,
// so the reference can only be called from package gpu_test); it skips without an adapter unless
// CI=true or SLAK_REQUIRE_GPU=1.
func remaskBackend(t testing.TB) *gpu.Backend {
	t.Helper()
	rmOnce.Do(func() { rmB, rmErr = gpu.New() })
	if rmErr != nil {
		if os.Getenv("CI") == "true" || os.Getenv("SLAK_REQUIRE_GPU") == "1" {
			t.Fatalf("no WebGPU device (CI=true or SLAK_REQUIRE_GPU=1 requires one): %v", rmErr)
		}
		t.Skipf("no WebGPU device: %v", rmErr)
	}
	return rmB
}

// remaskCase is one weight tensor: real SLaK-T layer sizes (dims 124/249/499/998, K 51/49/47/13,
// N 5) or hostile ones, with a value pattern.
type remaskCase struct {
	name     string
	n        int
	gen      func(r *rand.Rand, n int) []float32
	distinct bool // magnitudes pairwise distinct: exactly round(s·n) zeros
}

// distinct draws n values with pairwise distinct magnitudes (a shuffled ramp with random signs and
// jitter), so that the result does not depend on tie-breaking at all.
func distinct(r *rand.Rand, n int) []float32 {
	w := make([]float32, n)
	for i, p := range r.Perm(n) {
		w[i] = float32(p+1) * 1e-3 * float32(1+0.5*r.Float64()/float64(n+1))
		if r.Intn(2) == 0 {
			w[i] = -w[i]
		}
	}
	return w
}

// gaussian is a trained-looking layer: normal values, with about 40% exact zeros (SLaK's own
// sparsity, some of them −0) when zeros is true.
func gaussian(zeros bool) func(r *rand.Rand, n int) []float32 {
	return func(r *rand.Rand, n int) []float32 {
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(r.NormFloat64() * 0.05)
			if zeros && r.Float64() < 0.4 {
				w[i] = 0
				if r.Intn(4) == 0 {
					w[i] = float32(math.Copysign(0, -1))
				}
			}
		}
		return w
	}
}

// coarse has only 15 magnitudes (±k/8, k = 0…7) plus a few denormals and a NaN-free infinity: the
// threshold falls inside a big run of ties, which must go lowest index first.
func coarse(r *rand.Rand, n int) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = float32(r.Intn(15)-7) / 8
		switch r.Intn(97) {
		case 0:
			w[i] = math.Float32frombits(uint32(1 + r.Intn(1000))) // denormal
		case 1:
			w[i] = float32(math.Inf(1 - 2*r.Intn(2)))
		}
	}
	return w
}

func remaskCases() []remaskCase {
	return []remaskCase{
		{"one", 1, distinct, true},
		{"hostile_17x3", 17 * 3, distinct, true},
		{"block_edge_256", 256, distinct, true},
		{"block_edge_257", 257, coarse, false},
		{"block_edge_4096", 4096, distinct, true},
		{"block_edge_4097", 4097, coarse, false},
		{"blocks_3x4096_minus_1", 3*4096 - 1, coarse, false},
		{"distinct_249x7x5", 249 * 7 * 5, distinct, true},
		{"slak_t_s0_lora1_124x51x5", 124 * 51 * 5, gaussian(false), false},
		{"slak_t_s0_lora2_124x5x51_zeros", 124 * 5 * 51, gaussian(true), false},
		{"slak_t_s0_small_124x5x5_zeros", 124 * 5 * 5, gaussian(true), false},
		{"slak_t_s1_249x49x5_ties", 249 * 49 * 5, coarse, false},
		{"slak_t_s2_499x47x5_zeros", 499 * 47 * 5, gaussian(true), false},
		{"slak_t_s3_998x13x5", 998 * 13 * 5, distinct, true},
		{"replknet31b_s0_128x31x31_ties", 128 * 31 * 31, coarse, false},
	}
}

// TestRemaskMatchesMaskByMagnitude checks the GPU re-mask against erf.MaskByMagnitude bit for bit
// (no tolerance: both only copy or zero entries, so any difference is a wrong choice of entries),
// and on the distinct cases that exactly round(s·n) entries were zeroed.
func TestRemaskMatchesMaskByMagnitude(t *testing.T) {
	b := remaskBackend(t)
	r := rand.New(rand.NewSource(5))
	for _, c := range remaskCases() {
		w := c.gen(r, c.n)
		orig, err := b.Upload(w, c.n)
		if err != nil {
			t.Fatal(err)
		}
		dst, err := b.Upload(make([]float32, c.n), c.n)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []float64{0, 0.25, 0.4, 0.5, 0.9} {
			want, err := erf.MaskByMagnitude(w, s)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.Remask(orig, dst, c.n, s); err != nil {
				t.Fatalf("remask %s s=%g: %v", c.name, s, err)
			}
			got, err := b.Download(dst)
			if err != nil {
				t.Fatal(err)
			}
			bad := 0
			for i := range want {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					if bad < 3 {
						t.Errorf("remask %s s=%g: entry %d (orig %g): got %g, want %g", c.name, s, i, w[i], got[i], want[i])
					}
					bad++
				}
			}
			if bad > 0 {
				t.Errorf("remask %s s=%g: %d of %d entries differ", c.name, s, bad, c.n)
			}
			if c.distinct {
				zeros := 0
				for _, x := range got {
					if x == 0 {
						zeros++
					}
				}
				if wantZ := int(math.Round(s * float64(c.n))); zeros != wantZ {
					t.Errorf("remask %s s=%g: %d zeros, want round(s·n) = %d", c.name, s, zeros, wantZ)
				}
			}
		}
		// orig is untouched.
		back, err := b.Download(orig)
		if err != nil {
			t.Fatal(err)
		}
		for i := range w {
			if math.Float32bits(back[i]) != math.Float32bits(w[i]) {
				t.Fatalf("remask %s: orig[%d] changed: %g, was %g", c.name, i, back[i], w[i])
			}
		}
		b.Free(orig)
		b.Free(dst)
	}
}

// TestRemaskBadCalls checks that bad arguments are refused with an error naming the op.
func TestRemaskBadCalls(t *testing.T) {
	b := remaskBackend(t)
	a, _ := b.Upload(make([]float32, 10), 10)
	d, _ := b.Upload(make([]float32, 10), 10)
	short, _ := b.Upload(make([]float32, 9), 9)
	defer b.Free(a)
	defer b.Free(d)
	defer b.Free(short)
	for _, c := range []struct {
		name   string
		call   func() error
		substr string
	}{
		{"sparsity_negative", func() error { return b.Remask(a, d, 10, -0.1) }, "sparsity"},
		{"sparsity_0.95", func() error { return b.Remask(a, d, 10, 0.95) }, "sparsity"},
		{"sparsity_nan", func() error { return b.Remask(a, d, 10, math.NaN()) }, "sparsity"},
		{"n_mismatch", func() error { return b.Remask(a, short, 10, 0.5) }, "dst"},
		{"same_tensor", func() error { return b.Remask(a, a, 10, 0.5) }, "same"},
		{"nil_orig", func() error { return b.Remask(nil, d, 10, 0.5) }, "orig"},
	} {
		err := c.call()
		if err == nil || !strings.HasPrefix(err.Error(), "remask") || !strings.Contains(err.Error(), c.substr) {
			t.Errorf("%s: got error %v, want one starting with remask and naming %q", c.name, err, c.substr)
		}
	}
}

// TestRemaskTiming measures the GPU re-mask of every large-kernel weight of SLaK-T (random
// gaussian values with 40% zeros; 54 tensors) against the CPU path the app used before
// (erf.MaskByMagnitude on host copies, plus the re-upload of just those tensors). A measurement,
// logged; it checks only that both ran. Skipped with -short.
func TestRemaskTiming(t *testing.T) {
	if testing.Short() {
		t.Skip("timing only")
	}
	b := remaskBackend(t)
	v, err := model.Lookup("slak_t")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(7))
	var host [][]float32
	var origs, dsts []*gpu.Tensor
	total := 0
	for st := 0; st < 4; st++ {
		for j := 0; j < v.Depths[st]; j++ {
			c, k := v.Dims[st], v.Kernels[st]
			for _, n := range []int{c * k * v.N, c * v.N * k, c * v.N * v.N} {
				w := gaussian(true)(r, n)
				o, err := b.Upload(w, n)
				if err != nil {
					t.Fatal(err)
				}
				d, err := b.Upload(w, n)
				if err != nil {
					t.Fatal(err)
				}
				host = append(host, w)
				origs, dsts = append(origs, o.(*gpu.Tensor)), append(dsts, d.(*gpu.Tensor))
				total += n
			}
		}
	}
	defer func() {
		for i := range origs {
			b.Free(origs[i])
			b.Free(dsts[i])
		}
	}()
	gpuRun := func() time.Duration {
		t0 := time.Now()
		for i := range origs {
			if err := b.Remask(origs[i], dsts[i], origs[i].Len(), 0.8); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Flush(); err != nil {
			t.Fatal(err)
		}
		return time.Since(t0)
	}
	cpuRun := func() time.Duration {
		t0 := time.Now()
		for i := range host {
			m, err := erf.MaskByMagnitude(host[i], 0.8)
			if err != nil {
				t.Fatal(err)
			}
			u, err := b.Upload(m, len(m))
			if err != nil {
				t.Fatal(err)
			}
			b.Free(u)
		}
		if err := b.Flush(); err != nil {
			t.Fatal(err)
		}
		return time.Since(t0)
	}
	gpuRun() // compile the pipelines
	var g, c []time.Duration
	for i := 0; i < 5; i++ {
		g = append(g, gpuRun())
		c = append(c, cpuRun())
	}
	med := func(d []time.Duration) time.Duration {
		s := append([]time.Duration(nil), d...)
		for i := range s {
			for j := i + 1; j < len(s); j++ {
				if s[j] < s[i] {
					s[i], s[j] = s[j], s[i]
				}
			}
		}
		return s[len(s)/2]
	}
	t.Logf("SLaK-T large-kernel weights: %d tensors, %d values (%.1f MB); re-mask to 80%% (median of 5): GPU %v, CPU MaskByMagnitude + upload %v (%s)",
		len(origs), total, float64(total)*4/1e6, med(g), med(c), b.Info().Name)
}
