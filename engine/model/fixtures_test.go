package model

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/slak-web/slak/weights"
)

// goldenDir is the repository's testdata/golden, written by tools/golden/gen.py.
var goldenDir = filepath.Join("..", "..", "testdata", "golden")

// ckptEntry is one tensor of a .pth state_dict, in file order.
type ckptEntry struct {
	Key string
	P   Param
}

// readPTH reads a torch.save zip checkpoint with the product reader
// weights.ReadPTH (which unwraps model / model_ema / state_dict / module) and
// returns its state_dict in file order, every tensor as float32
// (num_batches_tracked included, converted). Prefixes are kept: Convert
// strips them.
func readPTH(t testing.TB, path string) []ckptEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	ck, err := weights.ReadPTH(f, st.Size())
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var out []ckptEntry
	for _, key := range ck.Order {
		tt := ck.StateDict[key]
		data, err := tt.Float32()
		if err != nil {
			t.Fatalf("%s: %s: %v", path, key, err)
		}
		out = append(out, ckptEntry{Key: key, P: Param{Shape: append([]int{}, tt.Shape...), Data: data}})
	}
	return out
}

func toStateDict(es []ckptEntry) StateDict {
	sd := StateDict{}
	for _, e := range es {
		sd[e.Key] = e.P
	}
	return sd
}

// readSafetensors reads a golden file with weights.ReadSafetensors
// (format: u64 LE header length, JSON header, raw little-endian data).
func readSafetensors(t testing.TB, path string) (map[string]Param, map[string]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	sf, err := weights.ReadSafetensors(f, st.Size())
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	out := map[string]Param{}
	for _, name := range sf.Order {
		tt := sf.Tensors[name]
		if tt.DType != weights.F32 {
			t.Fatalf("%s: %s has dtype %s, want F32", path, name, tt.DType)
		}
		d, err := tt.Float32()
		if err != nil {
			t.Fatalf("%s: %s: %v", path, name, err)
		}
		out[name] = Param{Shape: append([]int{}, tt.Shape...), Data: d}
	}
	return out, sf.Metadata
}

// goldenInputs lists the input names X with an "X/input" tensor, sorted.
func goldenInputs(g map[string]Param) []string {
	var xs []string
	for k := range g {
		if len(k) > 6 && k[len(k)-6:] == "/input" {
			xs = append(xs, k[:len(k)-6])
		}
	}
	sort.Strings(xs)
	return xs
}

// maxAbs returns max |x|.
func maxAbs(x []float32) float64 {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(float64(v)))
	}
	return m
}

// compareRel checks max|got−want| ≤ rel·max(floor, max|want|) and returns
// the observed error relative to that scale; the failure names what, the
// worst index as a coordinate of shape, got and want.
func compareRel(t testing.TB, what string, shape []int, got, want []float32, rel, floor float64) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d values, want %d", what, len(got), len(want))
		return math.Inf(1)
	}
	scale := math.Max(floor, maxAbs(want))
	worst, wi := 0.0, 0
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d > worst || math.IsNaN(d) {
			worst, wi = d, i
			if math.IsNaN(d) {
				worst = math.Inf(1)
				break
			}
		}
	}
	if worst > rel*scale {
		t.Errorf("%s: max |Δ| = %.3g at %v (got %g, want %g) > %.1g·%.3g", what, worst, coord(shape, wi), got[wi], want[wi], rel, scale)
	}
	return worst / scale
}

func coord(shape []int, i int) string {
	c := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			c[d] = i % shape[d]
			i /= shape[d]
		}
	}
	return fmt.Sprint(c)
}

// checkTop5 requires the same top-5 order as want, except between entries
// whose want logits are within tol of each other.
func checkTop5(t testing.TB, what string, got, want []float32, tol float64) {
	t.Helper()
	idx := func(x []float32) []int {
		ix := make([]int, len(x))
		for i := range ix {
			ix[i] = i
		}
		sort.SliceStable(ix, func(a, b int) bool { return x[ix[a]] > x[ix[b]] })
		return ix
	}
	gi, wi := idx(got), idx(want)
	k := 5
	if len(want) < k {
		k = len(want)
	}
	for r := 0; r < k; r++ {
		if gi[r] == wi[r] {
			continue
		}
		if math.Abs(float64(want[gi[r]])-float64(want[wi[r]])) <= tol {
			continue // a tie within tolerance
		}
		t.Errorf("%s: top-5 rank %d is class %d (logit %g), want class %d (logit %g)", what, r, gi[r], got[gi[r]], wi[r], want[wi[r]])
	}
}
