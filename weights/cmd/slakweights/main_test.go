package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slak-web/slak/weights"
	"github.com/slak-web/slak/weights/convert"
)

var goldenDir = filepath.Join("..", "..", "..", "testdata", "golden")

// TestCLIEndToEnd builds the command and runs it as a user would.
func TestCLIEndToEnd(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "slakweights")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	in := filepath.Join(goldenDir, "slak_tiny", "checkpoint.pth")
	out := filepath.Join(dir, "slak_tiny.safetensors")
	cmd := exec.Command(bin, "convert", "-in", in, "-variant", "slak_tiny", "-out", out)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("convert: %v\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	f, err := weights.ParseSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	v, sd, err := convert.LoadModelFileAs(f, "slak_tiny")
	if err != nil {
		t.Fatal(err)
	}
	m := f.Metadata
	if m["variant"] != "slak_tiny" || m["dtype"] != "F16" || m["kernels"] != "13,11,9,7" || m["n"] != "5" ||
		m["source_file"] != "checkpoint.pth" || m["source_key"] != "model" || len(sd) != len(f.Order) || v.Name != "slak_tiny" {
		t.Errorf("output metadata %v (%d tensors)", m, len(sd))
	}
	for _, tn := range f.Order {
		if f.Tensors[tn].DType != weights.F16 {
			t.Errorf("tensor %s is %s, want F16", tn, f.Tensors[tn].DType)
		}
	}
	// The summary: variant, tensor count, sparsity (the fixture's 2-D/4-D
	// weights are 40% zeros by construction, testdata/golden/README.md),
	// output size.
	s := stdout.String()
	for _, want := range []string{"variant:   slak_tiny", "tensors:   " + strconv.Itoa(len(f.Order)) + " (F16)",
		"% zeros in the 2-D/4-D weights", "output:    " + out + ", " + strconv.Itoa(len(b)) + " bytes"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if !strings.Contains(s, "sparsity:  39.") && !strings.Contains(s, "sparsity:  40.") {
		t.Errorf("sparsity not ~40%%:\n%s", s)
	}
	// inspect both kinds of file.
	for _, file := range []string{in, out} {
		o, err := exec.Command(bin, "inspect", file).CombinedOutput()
		if err != nil {
			t.Fatalf("inspect %s: %v\n%s", file, err, o)
		}
		if !strings.Contains(string(o), "stages.0.0.pwconv1.weight") {
			t.Errorf("inspect %s lacks the tensor list:\n%s", file, o)
		}
		if file == out && !strings.Contains(string(o), "check: ok") {
			t.Errorf("inspect of the converted file lacks the check line:\n%s", o)
		}
		if file == in && !strings.Contains(string(o), "args: ") {
			t.Errorf("inspect of the checkpoint lacks args:\n%s", o)
		}
	}
	// Errors: wrong variant, usage.
	o, err := exec.Command(bin, "convert", "-in", in, "-variant", "convnext_tiny", "-out", filepath.Join(dir, "x.safetensors")).CombinedOutput()
	if err == nil || !strings.Contains(string(o), "does not fit convnext_tiny") {
		t.Errorf("convert as the wrong variant: %v\n%s", err, o)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.safetensors")); err == nil {
		t.Errorf("a failed convert left an output file")
	}
	if o, err := exec.Command(bin, "convert").CombinedOutput(); err == nil || !strings.Contains(string(o), "usage") {
		t.Errorf("convert without flags: %v\n%s", err, o)
	}
	o, err = exec.Command(bin, "download", "-variant", "slak_t", "-out", filepath.Join(dir, "s.pth")).CombinedOutput()
	if err == nil || !strings.Contains(string(o), "github.com/VITA-Group/SLaK") || !strings.Contains(string(o), "slakweights convert -in") {
		t.Errorf("download slak_t should explain the manual download: %v\n%s", err, o)
	}
}

func TestDownload(t *testing.T) {
	ckpt, err := os.ReadFile(filepath.Join(goldenDir, "convnext_tiny", "checkpoint.pth"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok.pth", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "ok.pth", time.Time{}, bytes.NewReader(ckpt))
	})
	mux.HandleFunc("/truncated.pth", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(ckpt)))
		w.Write(ckpt[:len(ckpt)/3])
		// Returning with fewer bytes than promised: net/http closes the connection.
	})
	mux.HandleFunc("/drive", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!DOCTYPE html><html><body>Google Drive can't scan this file for viruses.</body></html>"))
	})
	mux.HandleFunc("/sneaky-html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte("\n  <html><body>Sign in</body></html>"))
	})
	mux.HandleFunc("/not-a-zip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(bytes.Repeat([]byte{7}, 5000))
	})
	mux.HandleFunc("/corrupt.pth", func(w http.ResponseWriter, r *http.Request) {
		c := append([]byte(nil), ckpt...)
		c[len(c)/2] ^= 0xff
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(c)
	})
	mux.HandleFunc("/stall.pth", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(ckpt)))
		w.Write(ckpt[:1000])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	mux.HandleFunc("/big.pth", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(10<<20))
		w.Write(make([]byte, 1000))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	dir := t.TempDir()
	ctx := context.Background()
	var calls int
	out := filepath.Join(dir, "ok.pth")
	n, err := download(ctx, srv.URL+"/ok.pth", out, downloadOptions{Progress: func(done, total int64) {
		calls++
		if total != int64(len(ckpt)) || done > total {
			t.Errorf("progress %d/%d, want total %d", done, total, len(ckpt))
		}
	}})
	if err != nil || n != int64(len(ckpt)) || calls == 0 {
		t.Fatalf("download ok.pth: n %d err %v progress calls %d", n, err, calls)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, ckpt) {
		t.Fatalf("downloaded bytes differ")
	}
	if _, err := os.Stat(out + ".part"); err == nil {
		t.Errorf(".part file left behind after success")
	}

	fails := []struct {
		path, want string
		opt        downloadOptions
	}{
		{"/truncated.pth", "truncated", downloadOptions{}},
		{"/drive", "HTML page", downloadOptions{}},
		{"/sneaky-html", "HTML page", downloadOptions{}},
		{"/not-a-zip", "no zip signature", downloadOptions{}},
		{"/corrupt.pth", "does not read as a checkpoint", downloadOptions{}},
		{"/missing.pth", "404", downloadOptions{}},
		{"/stall.pth", "no data for 300ms", downloadOptions{Stall: 300 * time.Millisecond}},
		{"/big.pth", "limit", downloadOptions{MaxBytes: 1 << 20}},
	}
	for _, c := range fails {
		dst := filepath.Join(dir, strings.Trim(c.path, "/")+".out")
		_, err := download(ctx, srv.URL+c.path, dst, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("download %s: err = %v, want one containing %q", c.path, err, c.want)
		}
		for _, p := range []string{dst, dst + ".part"} {
			if _, err := os.Stat(p); err == nil {
				t.Errorf("download %s: failed download left %s", c.path, p)
			}
		}
	}

	// Through the CLI entry point with -url.
	var so, se bytes.Buffer
	if err := run(ctx, []string{"download", "-variant", "convnext_tiny", "-url", srv.URL + "/ok.pth", "-out", filepath.Join(dir, "cli.pth")}, &so, &se); err != nil {
		t.Fatalf("run download: %v", err)
	}
	if !strings.Contains(so.String(), "next: slakweights convert -in") {
		t.Errorf("download output: %s", so.String())
	}
	if err := run(ctx, []string{"download", "-variant", "convnext_t", "-url", srv.URL + "/drive", "-out", filepath.Join(dir, "d.pth")}, &so, &se); err == nil {
		t.Errorf("run download of an HTML page: no error")
	}
	if sources["convnext_t"].URL != "https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224_ema.pth" {
		t.Errorf("ConvNeXt-T URL changed: %s", sources["convnext_t"].URL)
	}
}
