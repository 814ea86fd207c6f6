//go:build !wasm

package main

import (
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var routesOnce sync.Once

// The server pre-renders the page with the globalThis.wasm script (ENGINE.md
// trap 1) ahead of go-app's loader, and serves web/ assets unchanged.
func TestHandler(t *testing.T) {
	routesOnce.Do(routes)
	srv := httptest.NewServer(newHandler(".."))
	defer srv.Close()
	get := func(path string) (string, string) {
		t.Helper()
		res, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %s", path, res.Status)
		}
		return string(b), res.Header.Get("Content-Type")
	}
	html, _ := get("/")
	// The hook is an inline script, so it runs while the head is parsed;
	// go-app's app.js is deferred and instantiates the wasm after it.
	if !strings.Contains(html, "<script>\n(function () {\n  const keep") || !strings.Contains(html, "globalThis.wasm = r") {
		t.Errorf("the inline globalThis.wasm hook is missing")
	}
	if !strings.Contains(html, `<script defer src="/app.js">`) && !strings.Contains(html, `<script src="/app.js" defer>`) {
		t.Errorf("go-app's loader is no longer deferred: the globalThis.wasm hook may run too late")
	}
	for _, want := range []string{`id="dropzone"`, `role="button"`, `aria-live="polite"`, "/web/app.css", "/web/slak.js", "sample-chelsea"} {
		if !strings.Contains(html, want) {
			t.Errorf("pre-rendered page lacks %q", want)
		}
	}
	// Sizes before download: SLaK-T has 50.7 M dense parameters (SLAK.md
	// §1.1, SLaK#12); folded into deploy form and stored as f16 that is
	// about 101 MB.
	if !strings.Contains(html, "SLaK-T (51×51) · ≈101 MB") {
		t.Errorf("the picker does not show SLaK-T's download size (≈101 MB)")
	}
	if js, ct := get("/web/slak.js"); !strings.Contains(js, "slakOnFiles") || !strings.Contains(ct, "javascript") {
		t.Errorf("/web/slak.js: content type %q, %d bytes", ct, len(js))
	}
	if _, ct := get("/web/samples/chelsea.png"); ct != "image/png" {
		t.Errorf("sample content type %q", ct)
	}
}

func TestWriteStatic(t *testing.T) {
	routesOnce.Do(routes)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "web", "samples"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "site")
	if err := writeStatic(out, root, newHandler(root)); err == nil || !strings.Contains(err.Error(), "app.wasm") {
		t.Errorf("without app.wasm: err = %v, want one that says to build it", err)
	}
	os.WriteFile(filepath.Join(root, "web", "app.wasm"), []byte("\x00asm"), 0o644)
	os.WriteFile(filepath.Join(root, "web", "samples", "x.png"), []byte("png"), 0o644)
	if err := writeStatic(out, root, newHandler(root)); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "app.js", "wasm_exec.js", "app-worker.js", "web/app.wasm", "web/samples/x.png"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("static site lacks %s: %v", f, err)
		}
	}
}
