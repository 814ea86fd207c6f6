package weights

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var goldenDir = filepath.Join("..", "testdata", "golden")

// sampleFile is a small file with hostile shapes: odd sizes, a 0-d tensor,
// an empty tensor, mixed dtypes (so offsets are not 4-aligned).
func sampleFile(t testing.TB) *File {
	f := NewFile()
	f.Metadata["format"] = "test"
	f.Metadata["ünïcode"] = "√2 \"quoted\""
	vals := make([]float32, 249*3)
	for i := range vals {
		vals[i] = float32(i)*0.37 - 50
	}
	add := func(tt *Tensor, err error) {
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Add(tt); err != nil {
			t.Fatal(err)
		}
	}
	add(NewF32("a.weight", []int{249, 3}, vals))
	add(NewF16("b.half", []int{7}, vals[:7]))
	add(&Tensor{Name: "c.mask", DType: BOOL, Shape: []int{3}, Data: []byte{1, 0, 1}}, nil)
	add(NewF32("d.scalar", nil, []float32{2.5}))
	add(NewF32("e.empty", []int{0, 4}, nil))
	add(&Tensor{Name: "f.count", DType: I64, Shape: []int{}, Data: []byte{7, 0, 0, 0, 0, 0, 0, 0}}, nil)
	return f
}

func encode(t testing.TB, f *File) []byte {
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sameFile(t *testing.T, what string, got, want *File) {
	t.Helper()
	if strings.Join(got.Order, ",") != strings.Join(want.Order, ",") {
		t.Fatalf("%s: order %v, want %v", what, got.Order, want.Order)
	}
	for k, v := range want.Metadata {
		if got.Metadata[k] != v {
			t.Errorf("%s: metadata %q = %q, want %q", what, k, got.Metadata[k], v)
		}
	}
	if len(got.Metadata) != len(want.Metadata) {
		t.Errorf("%s: %d metadata entries, want %d", what, len(got.Metadata), len(want.Metadata))
	}
	for _, n := range want.Order {
		g, w := got.Tensors[n], want.Tensors[n]
		if g.DType != w.DType || len(g.Shape) != len(w.Shape) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("%s: tensor %s = %s%v (%d bytes), want %s%v (%d bytes)", what, n, g.DType, g.Shape, len(g.Data), w.DType, w.Shape, len(w.Data))
		}
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	f := sampleFile(t)
	b := encode(t, f)
	if hl := binary.LittleEndian.Uint64(b); hl%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", hl)
	}
	p, err := ParseSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, "ParseSafetensors", p, f)
	r, err := ReadSafetensors(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	sameFile(t, "ReadSafetensors", r, f)
	// Deterministic: writing what was read gives the same bytes.
	if b2 := encode(t, r); !bytes.Equal(b, b2) {
		t.Errorf("rewriting a read file changed its bytes")
	}
	// ParseSafetensors aliases the buffer (no copy).
	b[len(b)-1] ^= 0xff
	if last := p.Tensors["f.count"].Data[7]; last != 0xff {
		t.Errorf("ParseSafetensors copied tensor data (last byte %#x after flipping the buffer)", last)
	}
}

func TestSafetensorsProgress(t *testing.T) {
	b := encode(t, sampleFile(t))
	var calls int
	var last int64
	_, err := ReadSafetensorsProgress(bytes.NewReader(b), int64(len(b)), func(done, total int64) {
		calls++
		if done < last || done > total {
			t.Fatalf("progress %d/%d after %d", done, total, last)
		}
		last = done
	})
	if err != nil || calls == 0 || last == 0 {
		t.Fatalf("progress: err %v, %d calls, last %d", err, calls, last)
	}
}

// header builds a file from a raw JSON header and n data bytes.
func rawFile(header string, n int) []byte {
	b := make([]byte, 8, 8+len(header)+n)
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, n)...)
}

func TestSafetensorsHostileHeaders(t *testing.T) {
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 1<<62)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty file", nil, "shorter than the 8-byte"},
		{"huge header length", huge, "exceeds the"},
		{"header past end", rawFile(`{}`, 0)[:9], "exceeds the file size"},
		{"not an object", rawFile(`[1,2]`, 0), "not a JSON object"},
		{"bad json", rawFile(`{"a":`, 0), `tensor "a"`},
		{"duplicate name", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, 2), "duplicate tensor name"},
		{"unknown dtype", rawFile(`{"a":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}}`, 1), "unknown dtype"},
		{"offsets out of bounds", rawFile(`{"a":{"dtype":"U8","shape":[9],"data_offsets":[0,9]}}`, 4), "outside the 4-byte data section"},
		{"reversed offsets", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[3,2]}}`, 4), "outside"},
		{"shape/bytes mismatch", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}`, 8), "needs 8 bytes"},
		{"negative dim", rawFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, 4), "bad dimension"},
		{"overflowing shape", rawFile(`{"a":{"dtype":"F32","shape":[4294967295,4294967295,4294967295],"data_offsets":[0,4]}}`, 4), "larger than the file"},
		{"overlap", rawFile(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}}`, 3), "overlaps"},
		{"gap", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}`, 3), "gap"},
		{"trailing data", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, 5), "truncated or padded"},
		{"metadata not strings", rawFile(`{"__metadata__":{"a":1}}`, 0), "__metadata__"},
		{"three offsets", rawFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}}`, 1), "2 entries"},
		{"trailing garbage", rawFile(`{}{}`, 0), "trailing bytes"},
		{"invalid utf8", rawFile("{\"\xff\":{}}", 0), "UTF-8"},
	}
	for _, c := range cases {
		for _, api := range []string{"Parse", "Read"} {
			var err error
			if api == "Parse" {
				_, err = ParseSafetensors(c.file)
			} else {
				_, err = ReadSafetensors(bytes.NewReader(c.file), int64(len(c.file)))
			}
			if err == nil || !errors.Is(err, ErrSafetensors) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s (%s): err = %v, want ErrSafetensors containing %q", c.name, api, err, c.want)
			}
		}
	}
}

func TestSafetensorsTruncatedAndFlipped(t *testing.T) {
	b := encode(t, sampleFile(t))
	for n := 0; n < len(b); n++ {
		if _, err := ParseSafetensors(b[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(b))
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	hl := int(binary.LittleEndian.Uint64(b))
	for i := 0; i < 3000; i++ {
		c := append([]byte(nil), b...)
		pos := r.IntN(8 + hl) // header bytes: any change must be caught or harmless
		c[pos] ^= byte(1 + r.IntN(255))
		f, err := ParseSafetensors(c)
		if err == nil {
			// A flip inside a name, metadata value or padding can leave a valid file;
			// then it must still describe a fully covered data section.
			var total int
			for _, tt := range f.Tensors {
				total += len(tt.Data)
			}
			if total != len(c)-8-hl {
				t.Fatalf("flip at %d: accepted with %d data bytes of %d", pos, total, len(c)-8-hl)
			}
		}
	}
}

func TestSafetensorsGoldenFiles(t *testing.T) {
	for _, cfg := range []string{"slak_tiny", "convnext_tiny", "replknet_tiny"} {
		b, err := os.ReadFile(filepath.Join(goldenDir, cfg, "golden.safetensors"))
		if err != nil {
			t.Fatalf("golden fixture: %v", err)
		}
		f, err := ParseSafetensors(b)
		if err != nil {
			t.Fatalf("%s: %v", cfg, err)
		}
		if f.Metadata["config"] != cfg || f.Metadata["generator"] != "tools/golden/gen.py" {
			t.Errorf("%s: metadata %v", cfg, f.Metadata)
		}
		in := f.Tensors["odd71x53/input"]
		if in == nil || in.DType != F32 || len(in.Shape) != 3 || in.Shape[0] != 3 || in.Shape[1] != 71 || in.Shape[2] != 53 {
			t.Fatalf("%s: odd71x53/input = %+v, want F32 [3 71 53]", cfg, in)
		}
		logits := f.Tensors["photo224/logits"]
		if logits == nil || len(logits.Shape) != 1 || logits.Shape[0] != 10 {
			t.Fatalf("%s: photo224/logits shape %v, want [10]", cfg, logits.Shape)
		}
		// Rewriting keeps every tensor, its order and the metadata.
		g, err := ParseSafetensors(encode(t, f))
		if err != nil {
			t.Fatal(err)
		}
		sameFile(t, cfg+" rewritten", g, f)
	}
}
