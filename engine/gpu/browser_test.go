//go:build !js

package gpu

import (
	"context"
	_ "embed"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/slak-web/slak/engine/optest"
)

//go:embed internal/browsertest/index.html
var browserIndex []byte

// TestBrowserConformance builds engine/gpu/internal/browsertest for GOOS=js and runs the quick
// optest cases in headless Chromium on its WebGPU adapter (SwiftShader here): the js device path
// (device_js.go, error scopes, mapAsync readback) against engine/cpu, plus the half-weight GEMMs
// against their float32 widening (main_js.go's halfCheck, tolerance 0). It skips without Chromium
// (failing under CI=true or SLAK_REQUIRE_GPU=1), and under -short.
func TestBrowserConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: browser run skipped")
	}
	chromium := ""
	for _, c := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			chromium = p
			break
		}
	}
	if chromium == "" {
		if requireGPU() {
			t.Fatal("no chromium on PATH (CI=true or SLAK_REQUIRE_GPU=1 requires the browser run)")
		}
		t.Skip("no chromium on PATH")
	}
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "browsertest.wasm"), "./internal/browsertest")
	build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build browsertest for js/wasm: %v\n%s", err, out)
	}
	wasmExec, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		if wasmExec, err = os.ReadFile(filepath.Join(runtime.GOROOT(), "misc", "wasm", "wasm_exec.js")); err != nil {
			t.Fatalf("wasm_exec.js: %v", err)
		}
	}
	os.WriteFile(filepath.Join(dir, "wasm_exec.js"), wasmExec, 0o644)
	os.WriteFile(filepath.Join(dir, "index.html"), browserIndex, 0o644)
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer srv.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", "new"),
		chromedp.NoSandbox,
		chromedp.Flag("enable-unsafe-webgpu", true),
		chromedp.Flag("use-webgpu-adapter", "swiftshader"),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer acancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, tcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer tcancel()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/index.html")); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.title == "DONE"`,
		chromedp.WithPollingTimeout(150*time.Second), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		t.Fatalf("waiting for the suite: %v", err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 0 {
		t.Log(lines[0]) // the adapter
	}
	if !strings.Contains(out, "BAD=0") || strings.Contains(out, "FAIL") || strings.Contains(out, "error") {
		t.Fatalf("browser conformance failed:\n%s", out)
	}
	want := 0
	for _, c := range optest.Cases() {
		if !c.Real {
			want += 2 // forward and gradient
		}
	}
	if got := strings.Count(out, " max|Δ|/tol="); got != want {
		t.Fatalf("browser ran %d case directions, want %d:\n%s", got, want, out)
	}
	i := strings.Index(out, "HALF ok") // half weights on the page's device (main_js.go's halfCheck)
	if i < 0 {
		t.Fatalf("browser half-weight check missing or failed:\n%s", out)
	}
	half, _, _ := strings.Cut(out[i:], "\n")
	t.Logf("%d case directions, all within tolerance; %s", want, half)
}
