package weights

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readPTHFile(t testing.TB, path string) *Checkpoint {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := ReadPTH(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return ck
}

var torchDType = map[string]DType{
	"torch.float32": F32, "torch.float16": F16, "torch.bfloat16": BF16, "torch.float64": F64,
	"torch.int64": I64, "torch.int32": I32, "torch.uint8": U8, "torch.bool": BOOL,
}

type sample struct {
	DType string    `json:"dtype"`
	Shape []int     `json:"shape"`
	Head  []float64 `json:"head"`
	Tail  []float64 `json:"tail"`
	Sum   float64   `json:"sum"`
}

// checkSample compares a tensor with the values torch.load printed
// (weights/testdata/*.py). Head/tail values are float32 (or narrower) values
// widened to float64 by PyTorch, so they must match exactly after widening
// ours; the sum is PyTorch's float64 sum in its own order, so it gets a
// relative 1e-12 (float64 reassociation over ≤ 10^4 terms).
func checkSample(t *testing.T, where, name string, tt *Tensor, s sample) {
	t.Helper()
	if tt == nil {
		t.Errorf("%s: tensor %s missing", where, name)
		return
	}
	if want := torchDType[s.DType]; tt.DType != want && !(s.DType == "torch.bool") {
		t.Errorf("%s: %s dtype %s, want %s (%s)", where, name, tt.DType, want, s.DType)
	}
	if fmt.Sprint(tt.Shape) != fmt.Sprint(s.Shape) {
		t.Errorf("%s: %s shape %v, want %v", where, name, tt.Shape, s.Shape)
		return
	}
	v, err := tt.Float32()
	if err != nil {
		t.Fatal(err)
	}
	// float32 covers every value of these fixtures except the 2^40 int64 (exact in float32 too).
	for i, w := range s.Head {
		if float64(v[i]) != w {
			t.Errorf("%s: %s[%d] = %v, want %v", where, name, i, v[i], w)
		}
	}
	for i, w := range s.Tail {
		j := len(v) - len(s.Tail) + i
		if float64(v[j]) != w {
			t.Errorf("%s: %s[%d] = %v, want %v", where, name, j, v[j], w)
		}
	}
	var sum float64
	for _, x := range v {
		sum += float64(x)
	}
	if math.Abs(sum-s.Sum) > 1e-12*math.Max(1, math.Abs(s.Sum)) {
		t.Errorf("%s: %s sum %v, want %v", where, name, sum, s.Sum)
	}
}

func TestReadPTHOwnFixtures(t *testing.T) {
	var exp map[string]map[string]sample
	b, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	for file, tensors := range exp {
		ck := readPTHFile(t, filepath.Join("testdata", file))
		if len(ck.Order) != len(tensors) {
			t.Errorf("%s: %d tensors, want %d", file, len(ck.Order), len(tensors))
		}
		for name, s := range tensors {
			checkSample(t, file, name, ck.StateDict[name], s)
		}
	}
	// Top-level layout, args and extra values.
	ck := readPTHFile(t, "testdata/train_ckpt.pth")
	if ck.From != "model" || strings.Join(ck.TopKeys, ",") != "model,optimizer,epoch,scaler,args" {
		t.Errorf("train_ckpt: From %q TopKeys %v", ck.From, ck.TopKeys)
	}
	if ck.Extra["epoch"] != int64(299) || ck.Args["model"] != "SLaK_tiny" || ck.Args["width_factor"] != 1.3 ||
		ck.Args["Decom"] != true || fmt.Sprint(ck.Args["kernel_size"]) != "[13 11 9 7 5]" || ck.Args["data_path"] != nil {
		t.Errorf("train_ckpt: Extra %v Args %v", ck.Extra, ck.Args)
	}
	if _, kept := ck.Extra["optimizer"]; kept {
		t.Errorf("optimizer state kept in Extra")
	}
	ema := readPTHFile(t, "testdata/cuda_ema.pth")
	if ema.From != "model_ema" || ema.Extra["epoch"] != "best-ema" {
		t.Errorf("cuda_ema: From %q Extra %v", ema.From, ema.Extra)
	}
	if p := ema.StripPrefix(); p != "module." || ema.StateDict["conv.weight"] == nil || ema.Order[0] != "conv.weight" {
		t.Errorf("StripPrefix = %q, keys %v", p, ema.Order)
	}
	d := readPTHFile(t, "testdata/dtypes.pth")
	if d.From != "" || d.TopKeys != nil {
		t.Errorf("bare dict: From %q TopKeys %v", d.From, d.TopKeys)
	}
}

type goldenExpect struct {
	TopKeys  []string          `json:"top_keys"`
	From     string            `json:"from"`
	Count    int               `json:"count"`
	FirstKey string            `json:"first_key"`
	LastKey  string            `json:"last_key"`
	Epoch    any               `json:"epoch"`
	Args     map[string]any    `json:"args"`
	Samples  map[string]sample `json:"samples"`
}

func TestReadPTHGoldenCheckpoints(t *testing.T) {
	var exp map[string]goldenExpect
	b, err := os.ReadFile("testdata/golden_expect.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	if len(exp) < 10 {
		t.Fatalf("golden_expect.json lists %d checkpoints, want the 3 configs + 7 variants", len(exp))
	}
	for rel, e := range exp {
		ck := readPTHFile(t, filepath.Join(goldenDir, rel))
		if ck.From != e.From || len(ck.Order) != e.Count || ck.Order[0] != e.FirstKey || ck.Order[len(ck.Order)-1] != e.LastKey {
			t.Errorf("%s: From %q, %d entries %s…%s; want %q, %d, %s…%s", rel, ck.From, len(ck.Order),
				ck.Order[0], ck.Order[len(ck.Order)-1], e.From, e.Count, e.FirstKey, e.LastKey)
		}
		if strings.Join(ck.TopKeys, ",") != strings.Join(e.TopKeys, ",") {
			t.Errorf("%s: top keys %v, want %v", rel, ck.TopKeys, e.TopKeys)
		}
		if e.Epoch != nil && fmt.Sprint(ck.Extra["epoch"]) != fmt.Sprint(e.Epoch) {
			t.Errorf("%s: epoch %v, want %v", rel, ck.Extra["epoch"], e.Epoch)
		}
		for k, v := range e.Args {
			if fmt.Sprint(ck.Args[k]) != fmt.Sprint(v) {
				t.Errorf("%s: args.%s = %v, want %v", rel, k, ck.Args[k], v)
			}
		}
		for name, s := range e.Samples {
			checkSample(t, rel, name, ck.StateDict[name], s)
		}
	}
}

func expectPTHError(t *testing.T, what string, b []byte, want string) {
	t.Helper()
	_, err := ReadPTH(bytes.NewReader(b), int64(len(b)))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: err = %v, want one containing %q", what, err, want)
	}
}

func TestReadPTHRefusesCode(t *testing.T) {
	f32 := make([]byte, 16)
	cases := []struct {
		name, want string
		pickle     []byte
	}{
		{"os.system", "refusing to load class os.system: not a tensor checkpoint",
			newPK().global("os", "system").str("echo pwned").op("\x85R.").Bytes()},
		{"builtins.eval", "refusing to load class __builtin__.eval",
			newPK().global("__builtin__", "eval").str("1+1").op("\x85R.").Bytes()},
		{"posix.system in a dict", "refusing to load class posix.system",
			newPK().op("}").str("model").global("posix", "system").str("id").op("\x85Rs.").Bytes()},
		{"STACK_GLOBAL os.system", "refusing to load class os.system",
			[]byte("\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.")},
		{"STACK_GLOBAL via memo", "refusing to load class copy_reg._reconstructor",
			[]byte("\x80\x04\x8c\x08copy_reg\x94\x8c\x0e_reconstructor\x94h\x00h\x01\x93).")},
		{"STACK_GLOBAL computed name", "computed class name",
			[]byte("\x80\x04\x8c\x02os\x8c\x02sy\x8c\x04stem\x86\x93.")},
		{"nn.Module", "refusing to load class models.SLaK.SLaK",
			newPK().op("}").str("model").global("models.SLaK", "SLaK").op(")\x81s.").Bytes()},
		{"numpy scalar", "refusing to load class numpy.core.multiarray.scalar",
			newPK().global("numpy.core.multiarray", "scalar").op(").").Bytes()},
		{"torch.load reentry", "refusing to load class torch.load",
			newPK().global("torch", "load").op(").").Bytes()},
		{"INST opcode", "never appears in a torch.save checkpoint",
			newPK().op("(ios\nsystem\n.").Bytes()},
		{"extension registry", "never appears",
			newPK().op("\x82\x01.").Bytes()},
	}
	for _, c := range cases {
		expectPTHError(t, c.name, zipPTH(t, c.pickle, map[string][]byte{"0": f32}, zip.Store), c.want)
	}
}

func TestReadPTHHostileSizes(t *testing.T) {
	f32 := make([]byte, 16) // storage "0": 4 float32s
	model := func(body func(p *pk)) []byte {
		p := newPK().op("}").str("model").op("}").str("w")
		body(p)
		return p.op("ss.").Bytes()
	}
	cases := []struct {
		name, want string
		pickle     []byte
	}{
		{"storage claims 10^12 elements", "claims",
			model(func(p *pk) { p.tensor("FloatStorage", "0", 1<<30, 0, []int{4}, []int{1}) })},
		{"storage missing", "zip entry archive/data/9 is missing",
			model(func(p *pk) { p.tensor("FloatStorage", "9", 4, 0, []int{4}, []int{1}) })},
		{"view past the storage", "runs past its storage",
			model(func(p *pk) { p.tensor("FloatStorage", "0", 4, 2, []int{3}, []int{1}) })},
		{"huge view by strides", "runs past",
			model(func(p *pk) { p.tensor("FloatStorage", "0", 4, 0, []int{2, 2}, []int{1 << 30, 1}) })},
		{"repeating view (stride 0)", "more elements than its storage",
			model(func(p *pk) { p.tensor("FloatStorage", "0", 4, 0, []int{4, 4, 4}, []int{0, 0, 1}) })},
		{"size/stride rank mismatch", "differ in rank",
			model(func(p *pk) { p.tensor("FloatStorage", "0", 4, 0, []int{4}, []int{1, 1}) })},
		{"negative size", "non-negative",
			model(func(p *pk) { p.tensor("FloatStorage", "0", 4, 0, []int{-4}, []int{1}) })},
		{"same storage, two dtypes", "referenced as",
			newPK().op("}").str("model").op("}").str("a").tensor("FloatStorage", "0", 4, 0, []int{4}, []int{1}).
				str("b").tensor("DoubleStorage", "0", 2, 0, []int{2}, []int{1}).op("ss.").Bytes()},
		{"string length past the pickle", "claims",
			[]byte("\x80\x02X\xff\xff\xff\x7f.")},
		{"BINUNICODE8 past the pickle", "claims",
			[]byte("\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\x7f.")},
		{"bytes object", "hold no bytes objects", []byte("\x80\x03C\x01a.")},
		{"stack underflow", "stack underflow", []byte("\x80\x02}s.")},
		{"odd DICT", "odd number of items", []byte("\x80\x02(K\x01d.")},
		{"FRAME past the pickle", "claims",
			[]byte("\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x10.")},
		{"deep MARK nesting", "nested deeper",
			append([]byte("\x80\x02"), bytes.Repeat([]byte("("), 100000)...)},
		{"zero-length LONG1", "zero-length LONG", []byte("\x80\x02\x8a\x00.")},
		{"unknown opcode 0xff", "unknown opcode", []byte("\x80\x02\xff.")},
		{"no STOP", "no STOP", []byte("\x80\x02}")},
		{"odd SETITEMS", "", []byte("\x80\x02}(X\x01\x00\x00\x00au.")},
		{"unhashable key", "", []byte("\x80\x02ccollections\nOrderedDict\n)R]K\x01s.")},
		{"top level not a dict", "not a dict", newPK().op("]").op(".").Bytes()},
		{"no state dict", "no state dict", newPK().op("}").str("epoch").int(3).op("s.").Bytes()},
		{"model is not a state dict", `checkpoint["model"] is a dict whose entry w is an int`,
			newPK().op("}").str("model").op("}").str("w").int(3).op("ss.").Bytes()},
	}
	for _, c := range cases {
		expectPTHError(t, c.name, zipPTH(t, c.pickle, map[string][]byte{"0": f32}, zip.Store), c.want)
	}
	// A good hand-made file reads (the builder itself is right), with a
	// strided gather.
	good := model(func(p *pk) { p.tensor("FloatStorage", "0", 4, 1, []int{2}, []int{2}) })
	st := []byte{0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40} // 0, 1, 0, 2
	b := zipPTH(t, good, map[string][]byte{"0": st}, zip.Store)
	ck, err := ReadPTH(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("hand-made checkpoint: %v", err)
	}
	if v, _ := ck.StateDict["w"].Float32(); fmt.Sprint(v) != "[1 2]" {
		t.Errorf("strided view (offset 1, stride 2) = %v, want [1 2]", v)
	}
	// Compressed entries are refused.
	expectPTHError(t, "deflated data.pkl", zipPTH(t, good, map[string][]byte{"0": st}, zip.Deflate), "is compressed")
}

func TestReadPTHNotACheckpoint(t *testing.T) {
	expectPTHError(t, "legacy", []byte("\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03."), "legacy (non-zip) torch.save format: re-save with torch>=1.6")
	expectPTHError(t, "html", []byte("<!DOCTYPE html><html>Google Drive</html>"), "HTML page")
	expectPTHError(t, "short", []byte("PK"), "too short")
	expectPTHError(t, "random", []byte("GIF89a......"), "not a torch.save zip file")
	expectPTHError(t, "safetensors", append([]byte{8, 0, 0, 0, 0, 0, 0, 0}, "{}      "...), "not a torch.save zip file")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("hello.txt")
	w.Write([]byte("hi"))
	zw.Close()
	expectPTHError(t, "zip without pickle", buf.Bytes(), "no <name>/data.pkl")
}

func TestReadPTHCorruption(t *testing.T) {
	b, err := os.ReadFile("testdata/train_ckpt.pth")
	if err != nil {
		t.Fatal(err)
	}
	// Truncation at every offset: always an error (the zip directory is at the end).
	for n := 0; n < len(b); n++ {
		if _, err := ReadPTH(bytes.NewReader(b[:n]), int64(n)); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(b))
		}
	}
	// The golden SLaK checkpoint (448 KB, with optimizer state) truncated at
	// ~150 offsets spread over the file, including inside the last storages
	// and the central directory.
	g, err := os.ReadFile(filepath.Join(goldenDir, "slak_tiny", "checkpoint.pth"))
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(g); n += len(g)/128 + 1 {
		if _, err := ReadPTH(bytes.NewReader(g[:n]), int64(n)); err == nil {
			t.Fatalf("golden slak_tiny truncated to %d of %d bytes: no error", n, len(g))
		}
	}
	for n := len(g) - 300; n < len(g); n += 7 {
		if _, err := ReadPTH(bytes.NewReader(g[:n]), int64(n)); err == nil {
			t.Fatalf("golden slak_tiny truncated to %d of %d bytes: no error", n, len(g))
		}
	}
	// A flipped byte in tensor data is caught by the zip CRC-32.
	zr, _ := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	for _, f := range zr.File {
		if f.Name == "train_ckpt/data/0" {
			off, _ := f.DataOffset()
			c := append([]byte(nil), b...)
			c[off+5] ^= 0x10
			expectPTHError(t, "flipped data byte", c, "CRC-32 mismatch")
		}
	}
	// A zip entry whose directory record claims ~2 GiB: refused before allocating.
	c := append([]byte(nil), b...)
	cd := bytes.LastIndex(c, []byte("PK\x01\x02"))
	for _, at := range []int{20, 24} { // compressed and uncompressed size fields
		copy(c[cd+at:], []byte{0xff, 0xff, 0xff, 0x7f})
	}
	if _, err := ReadPTH(bytes.NewReader(c), int64(len(c))); err == nil {
		t.Errorf("central directory entry claiming 2 GiB: no error")
	}
	// Random byte flips anywhere: an error or a successful read, never a panic
	// (ReadPTH recovers as a last resort, but a recovered panic shows up as
	// "malformed pickle (…)" and means a root cause to fix).
	r := rand.New(rand.NewPCG(5, 6))
	for i := 0; i < 2000; i++ {
		c := append([]byte(nil), b...)
		for k := 0; k <= r.IntN(3); k++ {
			c[r.IntN(len(c))] ^= byte(1 + r.IntN(255))
		}
		_, err := ReadPTH(bytes.NewReader(c), int64(len(c)))
		if err != nil && (!errors.Is(err, ErrPTH) || strings.Contains(err.Error(), "malformed pickle (")) {
			t.Fatalf("flip %d: error %v", i, err)
		}
	}
}

func TestToGoIsBounded(t *testing.T) {
	// Billion laughs: 30 levels of a list holding the previous level 10 times.
	p := newPK().op("]q\x00")
	for i := 0; i < 30; i++ {
		p.op("0(") // drop the previous level from the stack (it stays in memo 0)
		for k := 0; k < 10; k++ {
			p.op("h\x00")
		}
		p.op("lq\x00")
	}
	pickle := newPK().op("}").str("model").op("}").str("w").
		tensor("FloatStorage", "0", 4, 0, []int{4}, []int{1}).op("ss").str("epoch")
	pickle.Write(p.Bytes()[2:]) // the bomb, without its PROTO
	pickle.op("s.")
	b := zipPTH(t, pickle.Bytes(), map[string][]byte{"0": make([]byte, 16)}, zip.Store)
	ck, err := ReadPTH(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("memo bomb in a non-tensor entry: %v", err)
	}
	if s := fmt.Sprint(ck.Extra["epoch"]); !strings.Contains(s, "…") || len(s) > 10<<20 {
		t.Errorf("bomb entry: %d characters, want a truncated (…) value under 10 MB", len(s))
	}
}
