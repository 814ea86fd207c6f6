package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// goldenDir is the repository's testdata/golden, written by tools/golden/gen.py.
var goldenDir = filepath.Join("..", "..", "testdata", "golden")

// pyObjectClass stands for any non-torch class (argparse.Namespace): NEWOBJ
// makes a pyObject and BUILD fills its __dict__.
type pyObjectClass struct{}

type pyObject struct{ dict map[interface{}]interface{} }

func (pyObjectClass) PyNew(args ...interface{}) (interface{}, error) {
	return &pyObject{dict: map[interface{}]interface{}{}}, nil
}

func (o *pyObject) PyDictSet(key, value interface{}) error {
	o.dict[key] = value
	return nil
}

// ckptEntry is one tensor of a .pth state_dict, in file order.
type ckptEntry struct {
	Key string
	P   Param
}

// readPTH reads a torch.save zip checkpoint with gopickle and returns the
// state_dict under top-level key (model, model_ema, state_dict, module) or the
// bare dict, in file order, every tensor as float32 (num_batches_tracked
// included, converted). It is the test's own minimal reader; the product
// reader is weights.ReadPTH.
func readPTH(t testing.TB, path string) []ckptEntry {
	t.Helper()
	// Classes outside torch (argparse.Namespace under 'args') load as
	// generic objects.
	obj, err := pytorch.LoadWithUnpickler(path, func(r io.Reader) pickle.Unpickler {
		u := pickle.NewUnpickler(r)
		u.FindClass = func(module, name string) (interface{}, error) {
			return pyObjectClass{}, nil
		}
		return u
	})
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	top, ok := obj.(*types.Dict)
	var sd *types.OrderedDict
	if ok {
		for _, k := range []string{"model", "model_ema", "state_dict", "module"} {
			if v, found := top.Get(k); found {
				sd, _ = v.(*types.OrderedDict)
				break
			}
		}
	} else {
		sd, _ = obj.(*types.OrderedDict)
	}
	if sd == nil {
		t.Fatalf("%s: no state_dict found (top-level %T)", path, obj)
	}
	var out []ckptEntry
	for e := sd.List.Front(); e != nil; e = e.Next() {
		ent := e.Value.(*types.OrderedDictEntry)
		key := ent.Key.(string)
		tt, ok := ent.Value.(*pytorch.Tensor)
		if !ok {
			t.Fatalf("%s: %s is %T, not a tensor", path, key, ent.Value)
		}
		n := numel(tt.Size)
		// Contiguity: PyTorch state_dict tensors are contiguous.
		stride := 1
		for i := len(tt.Size) - 1; i >= 0; i-- {
			if tt.Size[i] != 1 && tt.Stride[i] != stride {
				t.Fatalf("%s: %s is not contiguous (size %v stride %v)", path, key, tt.Size, tt.Stride)
			}
			stride *= tt.Size[i]
		}
		data := make([]float32, n)
		off := tt.StorageOffset
		switch s := tt.Source.(type) {
		case *pytorch.FloatStorage:
			copy(data, s.Data[off:off+n])
		case *pytorch.HalfStorage:
			copy(data, s.Data[off:off+n])
		case *pytorch.LongStorage:
			for i := range data {
				data[i] = float32(s.Data[off+i])
			}
		default:
			t.Fatalf("%s: %s has storage %T", path, key, tt.Source)
		}
		out = append(out, ckptEntry{Key: key, P: Param{Shape: append([]int{}, tt.Size...), Data: data}})
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

// readSafetensors reads the golden format: u64 LE header length, JSON
// header {name: {dtype F32, shape, data_offsets}}, raw little-endian data.
func readSafetensors(t testing.TB, path string) (map[string]Param, map[string]string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) < 8 {
		t.Fatalf("%s: too short", path)
	}
	n := binary.LittleEndian.Uint64(raw)
	if n > uint64(len(raw)-8) {
		t.Fatalf("%s: header length %d beyond file", path, n)
	}
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &hdr); err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	body := raw[8+n:]
	out := map[string]Param{}
	var meta map[string]string
	for name, msg := range hdr {
		if name == "__metadata__" {
			_ = json.Unmarshal(msg, &meta)
			continue
		}
		var info struct {
			Dtype   string   `json:"dtype"`
			Shape   []int    `json:"shape"`
			Offsets [2]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &info); err != nil {
			t.Fatalf("%s: %s: %v", path, name, err)
		}
		if info.Dtype != "F32" {
			t.Fatalf("%s: %s has dtype %s, want F32", path, name, info.Dtype)
		}
		b, e := info.Offsets[0], info.Offsets[1]
		if b < 0 || e < b || e > int64(len(body)) || (e-b) != int64(4*numel(info.Shape)) {
			t.Fatalf("%s: %s: bad offsets %v for shape %v", path, name, info.Offsets, info.Shape)
		}
		d := make([]float32, numel(info.Shape))
		for i := range d {
			d[i] = math.Float32frombits(binary.LittleEndian.Uint32(body[b+int64(4*i):]))
		}
		out[name] = Param{Shape: info.Shape, Data: d}
	}
	return out, meta
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
