package convert

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/slak-web/slak/engine/model"
	"github.com/slak-web/slak/weights"
)

var goldenDir = filepath.Join("..", "..", "testdata", "golden")

func convertFile(t testing.TB, rel, variant, dtype string) (*weights.File, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Convert(bytes.NewReader(b), int64(len(b)), Options{Variant: variant, DType: dtype, SourceFile: rel})
	if err != nil {
		t.Fatalf("Convert(%s, %s, %s): %v", rel, variant, dtype, err)
	}
	var out bytes.Buffer
	if err := weights.WriteSafetensors(&out, f); err != nil {
		t.Fatal(err)
	}
	return f, out.Bytes()
}

// reference converts the checkpoint the way engine/model's own tests do:
// ReadPTH, Float32, model.Convert, without this package.
func reference(t *testing.T, rel, variant string) (model.Variant, model.StateDict) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(goldenDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	ck, err := weights.ReadPTH(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := model.Lookup(variant)
	if err != nil {
		t.Fatal(err)
	}
	sd := model.StateDict{}
	for _, k := range ck.Order {
		d, err := ck.StateDict[k].Float32()
		if err != nil {
			t.Fatal(err)
		}
		sd[k] = model.Param{Shape: ck.StateDict[k].Shape, Data: d}
	}
	dep, err := model.Convert(v, sd)
	if err != nil {
		t.Fatal(err)
	}
	return v, dep
}

func TestConvertLoadRoundTrip(t *testing.T) {
	for _, c := range []struct{ rel, variant, key string }{
		{"slak_tiny/checkpoint.pth", "slak_tiny", "model"},
		{"convnext_tiny/checkpoint.pth", "convnext_tiny", "model"},
		{"replknet_tiny/checkpoint.pth", "replknet_tiny", ""},
	} {
		_, want := reference(t, c.rel, c.variant)
		for _, dt := range []string{"f32", "f16"} {
			f, b := convertFile(t, c.rel, c.variant, dt)
			g, err := weights.ParseSafetensors(b)
			if err != nil {
				t.Fatal(err)
			}
			v, sd, err := LoadModelFile(g)
			if err != nil {
				t.Fatalf("%s %s: LoadModelFile: %v", c.variant, dt, err)
			}
			m := g.Metadata
			if v.Name != c.variant || m["format"] != "slak-web/1" || m["source_key"] != c.key || m["dtype"] != strings.ToUpper(dt) ||
				m["converted_by"] != "slakweights" || m["source_file"] != "checkpoint.pth" || len(m["source_sha256"]) != 64 ||
				m["kernels"] != kernelString(v) || m["family"] != v.Family.String() {
				t.Errorf("%s %s: metadata %v", c.variant, dt, m)
			}
			if len(sd) != len(model.DeployKeys(v)) || len(f.Order) != len(sd) {
				t.Fatalf("%s: %d tensors, want %d", c.variant, len(sd), len(model.DeployKeys(v)))
			}
			var maxRel float64
			for k, w := range want {
				got := model.Param{Shape: sd[k].Shape, Data: sd[k].Float32()} // half GEMM weights widened
				for i := range w.Data {
					x, y := float64(w.Data[i]), float64(got.Data[i])
					if dt == "f32" {
						// f32 → f32: bit-exact.
						if math.Float32bits(got.Data[i]) != math.Float32bits(w.Data[i]) {
							t.Fatalf("%s f32: %s[%d] = %v, want %v exactly", c.variant, k, i, y, x)
						}
						continue
					}
					// f16: round to nearest keeps |err| ≤ 2^-11·|x| for normals and
					// ≤ 2^-25 (half the smallest subnormal step) below 2^-14.
					tol := math.Max(math.Abs(x)*0x1p-11, 0x1p-25)
					if math.Abs(x-y) > tol {
						t.Fatalf("%s f16: %s[%d] = %v, want %v ± %g", c.variant, k, i, y, x, tol)
					}
					if math.Abs(x) >= 0x1p-14 { // normal range: relative bound applies
						maxRel = math.Max(maxRel, math.Abs(x-y)/math.Abs(x))
					}
					if (x == 0) != (y == 0) && math.Abs(x) >= 0x1p-25 {
						t.Fatalf("%s f16: %s[%d] zero pattern changed (%v → %v)", c.variant, k, i, x, y)
					}
				}
			}
			if dt == "f16" {
				t.Logf("%s f16: max relative error over normals %.3g (bound 2^-11 = %.3g)", c.variant, maxRel, 0x1p-11)
			}
		}
	}
}

func TestConvertVariantsAndTraps(t *testing.T) {
	ok := map[string]string{ // file → source_key
		"variants/slak_tiny_module_prefix.pth": "state_dict",
		"variants/slak_tiny_model_ema.pth":     "model_ema",
		"variants/slak_tiny_cuda_location.pth": "model",
		"variants/slak_tiny_f16.pth":           "model",
	}
	_, base := reference(t, "slak_tiny/checkpoint.pth", "slak_tiny")
	for rel, key := range ok {
		f, _ := convertFile(t, rel, "slak_tiny", "f32")
		if f.Metadata["source_key"] != key {
			t.Errorf("%s: source_key %q, want %q", rel, f.Metadata["source_key"], key)
		}
		if rel == "variants/slak_tiny_f16.pth" {
			continue // different (rounded) weights
		}
		_, sd, err := LoadModelFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for k, w := range base {
			got := sd[k].Float32()
			for i := range w.Data {
				if got[i] != w.Data[i] {
					t.Fatalf("%s: %s[%d] = %v, want the slak_tiny value %v", rel, k, i, got[i], w.Data[i])
				}
			}
		}
	}
	bad := []struct{ rel, variant, want string }{
		{"variants/slak_tiny_decom.pth", "slak_tiny", "Decom"},
		{"variants/slak_tiny_lkb_origin.pth", "slak_tiny", "lkb_origin"},
		{"variants/slak_tiny_k_mismatch.pth", "slak_tiny", "shape"},
		{"convnext_tiny/checkpoint.pth", "slak_tiny", "does not fit slak_tiny"},
	}
	for _, c := range bad {
		b, _ := os.ReadFile(filepath.Join(goldenDir, c.rel))
		_, err := Convert(bytes.NewReader(b), int64(len(b)), Options{Variant: c.variant})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Convert(%s as %s): err = %v, want one containing %q", c.rel, c.variant, err, c.want)
		}
	}
	b, _ := os.ReadFile(filepath.Join(goldenDir, "slak_tiny/checkpoint.pth"))
	if _, err := Convert(bytes.NewReader(b), int64(len(b)), Options{Variant: "slak_tiny", DType: "int8"}); err == nil {
		t.Errorf("dtype int8: no error")
	}
	if _, err := Convert(bytes.NewReader(b), int64(len(b)), Options{Variant: "slak_xxl"}); err == nil || !strings.Contains(err.Error(), "unknown variant") {
		t.Errorf("unknown variant: err = %v", err)
	}
}

func TestConvertF16Overflow(t *testing.T) {
	v, _ := model.Lookup("convnext_tiny")
	ck := &weights.Checkpoint{StateDict: map[string]*weights.Tensor{}}
	sd, err := model.RandomWeights(v, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range model.Schema(v) {
		p := sd[e.Key]
		if e.Key == "stages.0.0.gamma" {
			p.Data[3] = 1e6
		}
		tt, err := weights.NewF32(e.Key, e.Shape, p.Data)
		if err != nil {
			t.Fatal(err)
		}
		ck.StateDict[e.Key] = tt
		ck.Order = append(ck.Order, e.Key)
	}
	_, err = ConvertCheckpoint(ck, "", Options{Variant: "convnext_tiny"})
	if err == nil || !strings.Contains(err.Error(), "stages.0.0.gamma") || !strings.Contains(err.Error(), "overflows float16") {
		t.Fatalf("gamma 1e6 to f16: err = %v, want an overflow error naming stages.0.0.gamma", err)
	}
	if _, err := ConvertCheckpoint(ck, "", Options{Variant: "convnext_tiny", DType: "f32"}); err != nil {
		t.Fatalf("same weights to f32: %v", err)
	}
}

func expectLoadError(t *testing.T, what string, b []byte, want string) {
	t.Helper()
	f, err := weights.ParseSafetensors(b)
	if err == nil {
		_, _, err = LoadModelFile(f)
	}
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: err = %v, want one containing %q", what, err, want)
	}
}

// rewrite applies edit to a parsed copy of b and writes it again; with
// rehash the data_sha256 is recomputed (a consistent but wrong file).
func rewrite(t *testing.T, b []byte, rehash bool, edit func(f *weights.File)) []byte {
	f, err := weights.ParseSafetensors(append([]byte(nil), b...))
	if err != nil {
		t.Fatal(err)
	}
	edit(f)
	if rehash {
		f.Metadata[weights.MetaDataSHA256] = weights.DataSHA256(f)
	}
	var out bytes.Buffer
	if err := weights.WriteSafetensors(&out, f); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestLoadModelFileRejects(t *testing.T) {
	_, b := convertFile(t, "slak_tiny/checkpoint.pth", "slak_tiny", "f16")
	hl := int(binary.LittleEndian.Uint64(b))

	// Tampered data: one flipped bit anywhere in the data section.
	for _, at := range []int{0, 1, (len(b) - 8 - hl) / 2, len(b) - 9 - hl} {
		c := append([]byte(nil), b...)
		c[8+hl+at] ^= 0x04
		expectLoadError(t, "flipped data byte", c, "checksum mismatch")
	}
	// Truncated anywhere: the safetensors layer or the checksum catches it.
	for n := 0; n < len(b); n += 97 {
		expectLoadError(t, "truncated", b[:n], "")
	}
	expectLoadError(t, "missing format", rewrite(t, b, false, func(f *weights.File) { delete(f.Metadata, "format") }),
		"not a slak-web model file: missing metadata format")
	expectLoadError(t, "golden safetensors", func() []byte {
		g, _ := os.ReadFile(filepath.Join(goldenDir, "variants", "golden.safetensors"))
		return g
	}(), "not a slak-web model file")
	expectLoadError(t, "future format", rewrite(t, b, false, func(f *weights.File) { f.Metadata["format"] = "slak-web/2" }), `format "slak-web/2"`)
	expectLoadError(t, "unknown variant", rewrite(t, b, false, func(f *weights.File) { f.Metadata["variant"] = "slak_xxl" }), "does not know")
	expectLoadError(t, "family mismatch", rewrite(t, b, false, func(f *weights.File) { f.Metadata["family"] = "ConvNeXt" }), "family")
	expectLoadError(t, "kernel mismatch", rewrite(t, b, false, func(f *weights.File) { f.Metadata["kernels"] = "9,9,7,7" }), "kernels")
	expectLoadError(t, "renamed tensor, rehashed", rewrite(t, b, true, func(f *weights.File) {
		tt := f.Tensors["head.bias"]
		delete(f.Tensors, "head.bias")
		tt.Name = "head.biases"
		f.Tensors[tt.Name] = tt
		f.Order[len(f.Order)-1] = tt.Name
	}), "tensor head.bias missing")
	expectLoadError(t, "extra tensor, rehashed", rewrite(t, b, true, func(f *weights.File) {
		x, _ := weights.NewF16("stages.0.0.large_kernel.lkb_origin.weight", []int{1}, []float32{0})
		f.Add(x)
	}), "unexpected tensor stages.0.0.large_kernel.lkb_origin.weight")
	expectLoadError(t, "wrong shape, rehashed", rewrite(t, b, true, func(f *weights.File) {
		tt := f.Tensors["stages.0.0.pwconv1.weight"]
		tt.Shape = []int{tt.Shape[0] * tt.Shape[1] / 2, 2}
	}), "tensor stages.0.0.pwconv1.weight: shape [98 2] does not match slak_tiny's [28 7]")
	expectLoadError(t, "int tensor", rewrite(t, b, true, func(f *weights.File) {
		tt := f.Tensors["head.bias"]
		tt.DType = weights.I16
	}), "want F16 or F32")

	// Wrong variant requested.
	_, cb := convertFile(t, "convnext_tiny/checkpoint.pth", "convnext_tiny", "f16")
	g, err := weights.ParseSafetensors(cb)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadModelFileAs(g, "slak_tiny"); err == nil || !strings.Contains(err.Error(), "this file is a ConvNeXt tiny test config conversion, not SLaK tiny test config") {
		t.Errorf("LoadModelFileAs(convnext file, slak_tiny): %v", err)
	}
	if _, _, err := LoadModelFileAs(g, "convnext_tiny"); err != nil {
		t.Errorf("LoadModelFileAs(convnext file, convnext_tiny): %v", err)
	}
}

func TestMetadataOfRealVariants(t *testing.T) {
	v, err := model.Lookup("slak_t")
	if err != nil {
		t.Fatal(err)
	}
	m := Metadata(v)
	want := map[string]string{
		"format": "slak-web/1", "variant": "slak_t", "family": "SLaK", "kernels": "51,49,47,13", "n": "5",
		"ln_eps": "1e-06", "bn_eps": "1e-05", "class_order": "imagenet1k-wordnet-sorted",
		"preprocessing": `{"resize":256,"interpolation":"bicubic","crop":224,"mean":[0.485,0.456,0.406],"std":[0.229,0.224,0.225]}`,
	}
	for k, w := range want {
		if m[k] != w {
			t.Errorf("slak_t metadata %s = %q, want %q", k, m[k], w)
		}
	}
}

func FuzzLoadModelFile(f *testing.F) {
	_, b := convertFile(f, "convnext_tiny/checkpoint.pth", "convnext_tiny", "f16")
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := weights.ParseSafetensors(b)
		if err != nil {
			return
		}
		v, sd, err := LoadModelFile(g)
		if err != nil {
			if sd != nil {
				t.Fatalf("error %v with a non-nil state dict", err)
			}
			return
		}
		if err := model.ValidateDeploy(v, sd); err != nil {
			t.Fatalf("accepted a file that fails ValidateDeploy: %v", err)
		}
	})
}

// A checkpoint that does not fit the variant is refused before its tensors
// are widened to float32: the app tries every variant on a dropped .pth.
// The checkpoint here has ConvNeXt-T's full-size layout (28.6M parameters,
// 114 MB as float32) with every tensor backed by one shared zero buffer.
func TestConvertMismatchIsCheap(t *testing.T) {
	v, err := model.Lookup("convnext_t")
	if err != nil {
		t.Fatal(err)
	}
	entries := model.Schema(v)
	maxN := 0
	for _, e := range entries {
		n := 1
		for _, d := range e.Shape {
			n *= d
		}
		maxN = max(maxN, n)
	}
	zb := make([]byte, 4*maxN)
	ck := &weights.Checkpoint{StateDict: map[string]*weights.Tensor{}}
	var widened uint64
	for _, e := range entries {
		n := 1
		for _, d := range e.Shape {
			n *= d
		}
		ck.StateDict[e.Key] = &weights.Tensor{Name: e.Key, DType: weights.F32, Shape: e.Shape, Data: zb[:4*n]}
		ck.Order = append(ck.Order, e.Key)
		widened += uint64(4 * n)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = ConvertCheckpoint(ck, "", Options{Variant: "slak_t"})
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "does not fit slak_t") {
		t.Fatalf("ConvNeXt-T layout converted as slak_t: err = %v", err)
	}
	// The dry run allocates one buffer of the largest tensor (9.4 MB) plus maps
	// and the message; widening everything would allocate 114 MB.
	got := after.TotalAlloc - before.TotalAlloc
	if got >= widened/4 {
		t.Errorf("refusing a mismatched checkpoint allocated %d bytes; widening it is %d", got, widened)
	}
	t.Logf("refusal allocated %d bytes (widening: %d)", got, widened)
}

func TestLoadModelFileProgress(t *testing.T) {
	_, b := convertFile(t, "slak_tiny/checkpoint.pth", "slak_tiny", "f16")
	f, err := weights.ParseSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	var last, total int64
	calls := 0
	v, sd, err := LoadModelFileProgress(f, "slak_tiny", func(done, tot int64) {
		if done < last || done > tot || (total != 0 && tot != total) {
			t.Fatalf("progress %d/%d after %d/%d", done, tot, last, total)
		}
		last, total = done, tot
		calls++
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != total || calls < len(sd) {
		t.Errorf("progress ended at %d/%d after %d calls (%d tensors)", last, total, calls, len(sd))
	}
	_, want, err := LoadModelFile(f)
	if err != nil || v.Name != "slak_tiny" || len(want) != len(sd) {
		t.Fatalf("LoadModelFile: %v (%d vs %d tensors)", err, len(want), len(sd))
	}
	if _, _, err := LoadModelFileProgress(f, "convnext_tiny", nil); err == nil || !strings.Contains(err.Error(), "this file is a SLaK tiny test config conversion") {
		t.Errorf("LoadModelFileProgress as convnext_tiny: %v", err)
	}
}

// TestHalfWeights: rounding float32 deploy weights to half (HalfWeights, or HalfParam while
// model.RandomWeightsEach draws them) keeps exactly the model.HalfKey entries, each value the
// nearest binary16 (weights.Float16Bits), and the two ways agree bit for bit.
func TestHalfWeights(t *testing.T) {
	for _, name := range []string{"slak_tiny", "convnext_tiny", "replknet_tiny"} {
		v, err := model.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		f32, err := model.RandomWeights(v, 3, 0.4)
		if err != nil {
			t.Fatal(err)
		}
		a, err := HalfWeights(v, f32)
		if err != nil {
			t.Fatal(err)
		}
		b, err := model.RandomWeightsEach(v, 3, 0.4, nil, HalfParam)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range model.DeployKeys(v) {
			pa, pb, pf := a[e.Key], b[e.Key], f32[e.Key]
			if model.HalfKey(e) != (pa.Half != nil) || model.HalfKey(e) != (pb.Half != nil) || pf.Half != nil {
				t.Fatalf("%s %s: half %v/%v (input untouched: %v), HalfKey %v", name, e.Key, pa.Half != nil, pb.Half != nil, pf.Half == nil, model.HalfKey(e))
			}
			fa, fb := pa.Float32(), pb.Float32()
			for i, x := range pf.Data {
				ga, gb := fa[i], fb[i]
				want := x
				if pa.Half != nil {
					want = weights.Float32FromBits(weights.Float16Bits(x))
				}
				if math.Float32bits(ga) != math.Float32bits(want) || math.Float32bits(gb) != math.Float32bits(want) {
					t.Fatalf("%s %s[%d]: HalfWeights %g, RandomWeightsEach %g, want %g", name, e.Key, i, ga, gb, want)
				}
			}
		}
	}
	bad := model.StateDict{"head.weight": {Shape: []int{1, 1}, Data: []float32{1e6}}}
	if _, err := HalfParam(model.Entry{Key: "head.weight", Shape: []int{1, 1}}, bad["head.weight"]); err == nil {
		t.Error("HalfParam of 1e6: no error (beyond binary16's 65504)")
	}
}
