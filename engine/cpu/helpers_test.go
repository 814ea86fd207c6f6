package cpu

import (
	"math"
	"math/rand"
	"testing"
)

// u is float32's unit roundoff.
const u = 1.0 / (1 << 24)

func randSlice(r *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64() * scale)
	}
	return s
}

// ref64 is one output of a float64 reference: the value and the magnitude
// Σ|terms| and the number of terms that the float32 sum accumulated.
type ref64 struct {
	v, mag float64
	n      int
}

// compareBound checks got against float64 references with the worst-case
// bound for recursive float32 summation (Higham, Accuracy and Stability of
// Numerical Algorithms, §4.2): |ŝ − s| ≤ γ_n Σ|terms|, γ_n ≈ n·u, plus one
// rounding of each product (the +1 in n+1) and of the output (u·|s|).
func compareBound(t *testing.T, opName, caseName string, got []float32, want []ref64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s/%s: got %d outputs, want %d", opName, caseName, len(got), len(want))
	}
	worst, bad := 0.0, 0
	for i, w := range want {
		tol := float64(w.n+1)*u*w.mag + u*math.Abs(w.v) + 1e-30
		e := math.Abs(float64(got[i]) - w.v)
		if r := e / tol; r > worst {
			worst = r
		}
		if !(e <= tol) {
			if bad < 5 {
				t.Errorf("%s/%s: index %d: got %.9g, want %.9g (err %.3g > bound %.3g)", opName, caseName, i, got[i], w.v, e, tol)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s/%s: %d of %d outputs outside the float32 summation bound (worst err/bound %.3g)", opName, caseName, bad, len(got), worst)
	}
}

// sampleIdx returns up to k distinct indices of [0, n) including 0 and n−1.
func sampleIdx(r *rand.Rand, n, k int) []int {
	if n <= k {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	seen := map[int]bool{0: true, n - 1: true}
	idx := []int{0, n - 1}
	for len(idx) < k {
		j := r.Intn(n)
		if !seen[j] {
			seen[j] = true
			idx = append(idx, j)
		}
	}
	return idx
}

// loss is L = Σ dy·y in float64.
func loss(dy, y []float32) float64 {
	s := 0.0
	for i := range y {
		s += float64(dy[i]) * float64(y[i])
	}
	return s
}

// gradCheck compares the analytic input gradient dx of L(x) = Σ dy·f(x)
// with the central difference (L(x+h·e_j) − L(x−h·e_j)) / (x_j⁺ − x_j⁻) at
// sampled coordinates j, in float64 on the side of the float32 forward.
// The step actually taken is the float32-representable one. The check is
// |dx_j − fd_j| ≤ atol + rtol·|fd_j|; each caller states why its tolerance
// fits.
func gradCheck(t *testing.T, opName, caseName string, x, dy, dx []float32, f func(x []float32) ([]float32, error), h, atol, rtol float64, samples int) {
	t.Helper()
	r := rand.New(rand.NewSource(int64(len(x))*7 + 1))
	xp := append([]float32(nil), x...)
	for _, j := range sampleIdx(r, len(x), samples) {
		x0 := x[j]
		hi, lo := float32(float64(x0)+h), float32(float64(x0)-h)
		xp[j] = hi
		yp, err := f(xp)
		if err != nil {
			t.Fatalf("%s/%s: forward: %v", opName, caseName, err)
		}
		xp[j] = lo
		ym, err := f(xp)
		if err != nil {
			t.Fatalf("%s/%s: forward: %v", opName, caseName, err)
		}
		xp[j] = x0
		fd := (loss(dy, yp) - loss(dy, ym)) / (float64(hi) - float64(lo))
		if e := math.Abs(float64(dx[j]) - fd); !(e <= atol+rtol*math.Abs(fd)) {
			t.Errorf("%s/%s: dL/dx[%d]: got %.7g, finite difference %.7g (err %.3g > %.3g)", opName, caseName, j, dx[j], fd, e, atol+rtol*math.Abs(fd))
		}
	}
}

func mustf(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func approxEq(t *testing.T, what string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if e := math.Abs(float64(got[i]) - want[i]); !(e <= tol) {
			t.Errorf("%s: index %d: got %.9g, want %.9g (err %.3g > %.3g)", what, i, got[i], want[i], e, tol)
		}
	}
}
