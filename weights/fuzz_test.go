package weights

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The seed corpora (the fixtures below plus testdata/fuzz/<Name>/) run as
// ordinary tests under go test; `go test -fuzz=FuzzReadPTH` explores further.

func addFiles(f *testing.F, patterns ...string) {
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		for _, path := range m {
			b, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
}

func FuzzReadPTH(f *testing.F) {
	addFiles(f, "testdata/*.pth", filepath.Join(goldenDir, "convnext_tiny", "checkpoint.pth"),
		filepath.Join(goldenDir, "variants", "slak_tiny_f16.pth"))
	f.Add([]byte("\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."))
	f.Fuzz(func(t *testing.T, b []byte) {
		ck, err := ReadPTH(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrPTH) {
				t.Fatalf("error %v does not wrap ErrPTH", err)
			}
			if strings.Contains(err.Error(), "malformed pickle (") {
				t.Fatalf("recovered panic: %v", err)
			}
			return
		}
		for _, name := range ck.Order {
			if err := ck.StateDict[name].Validate(); err != nil {
				t.Fatalf("accepted an invalid tensor: %v", err)
			}
		}
	})
}

func FuzzReadSafetensors(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, sampleFile(f)); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	addFiles(f, filepath.Join(goldenDir, "variants", "golden.safetensors"))
	f.Add(rawFile(`{"__metadata__":{"a":"b"},"x":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]}}`, 4))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, perr := ParseSafetensors(b)
		r, rerr := ReadSafetensors(bytes.NewReader(b), int64(len(b)))
		if (perr == nil) != (rerr == nil) {
			t.Fatalf("ParseSafetensors err %v, ReadSafetensors err %v", perr, rerr)
		}
		if perr != nil {
			if !errors.Is(perr, ErrSafetensors) {
				t.Fatalf("error %v does not wrap ErrSafetensors", perr)
			}
			return
		}
		// Accepted files survive a write/parse round trip unchanged.
		var out bytes.Buffer
		if err := WriteSafetensors(&out, p); err != nil {
			t.Fatalf("rewriting an accepted file: %v", err)
		}
		q, err := ParseSafetensors(out.Bytes())
		if err != nil {
			t.Fatalf("re-parsing: %v", err)
		}
		for _, n := range p.Order {
			if !bytes.Equal(p.Tensors[n].Data, q.Tensors[n].Data) || !bytes.Equal(p.Tensors[n].Data, r.Tensors[n].Data) {
				t.Fatalf("tensor %s changed in the round trip", n)
			}
		}
	})
}

// FuzzPickle fuzzes the pickle inside a well-formed zip (mutating a
// whole .pth mostly trips the zip CRC-32 before the unpickler runs). The
// storages are those of testdata/dtypes.pth, whose pickle is a seed.
func FuzzPickle(f *testing.F) {
	storages := map[string][]byte{}
	for _, path := range []string{"testdata/dtypes.pth", "testdata/train_ckpt.pth"} {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range zr.File {
			rc, _ := e.Open()
			data, _ := io.ReadAll(rc)
			rc.Close()
			if strings.HasSuffix(e.Name, "/data.pkl") {
				f.Add(data)
			} else if i := strings.Index(e.Name, "/data/"); i >= 0 && path == "testdata/dtypes.pth" {
				storages[e.Name[i+len("/data/"):]] = data
			}
		}
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		b := zipPTH(t, p, storages, zip.Store)
		_, err := ReadPTH(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			if !errors.Is(err, ErrPTH) {
				t.Fatalf("error %v does not wrap ErrPTH", err)
			}
			if strings.Contains(err.Error(), "malformed pickle (") {
				t.Fatalf("recovered panic: %v", err)
			}
		}
	})
}
