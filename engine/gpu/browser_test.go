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
	out := browserPage(t, "", 150*time.Second)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 0 {
		t.Log(lines[0]) // the adapter
	}
	if !strings.Contains(out, "BAD=0") || strings.Contains(out, "FAIL") || strings.Contains(out, "error") {
		t.Fatalf("browser conformance failed:\n%s", out)
	}
	want, sgWant := 0, 0
	for _, c := range optest.Cases() {
		if !c.Real {
			want += 2 // forward and gradient
			if c.Op == "linear" {
				sgWant += 2
			}
		}
	}
	// The subgroup GEMM (matmul_sg.wgsl) runs forced on where the device has subgroups
	// (SwiftShader does): the linear cases again, and the fused pointwise ops.
	switch {
	case strings.Contains(out, "SUBGROUPS=forced"):
		want += sgWant
		if !strings.Contains(out, "SG TUNE ok") {
			t.Fatalf("the tuner's on-device check of the subgroup GEMM did not pass:\n%s", out)
		}
		for _, l := range lines {
			if strings.HasPrefix(l, "SUBGROUPS=") || strings.HasPrefix(l, "SG fused/") || strings.HasPrefix(l, "SG TUNE") || strings.HasPrefix(l, "  gemm") {
				t.Log(l)
			}
		}
	case strings.Contains(out, "SUBGROUPS=absent"):
		if len(lines) > 0 && strings.Contains(lines[0], "subgroups") && strings.Contains(lines[0], "features [") &&
			strings.Contains(strings.SplitN(lines[0], "adapter features", 2)[0], "subgroups") {
			t.Fatalf("the device has subgroups but the subgroup GEMM did not run:\n%s", out)
		}
		t.Log("no subgroups on this device: matmul_sg.wgsl not run")
	default:
		t.Fatalf("no SUBGROUPS line:\n%s", out)
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

// TestBrowserSubgroupAB is the in-browser A/B of the subgroup GEMM: SLaK-T's pointwise layers at
// 224² timed by Backend.Tune (interleaved, matmul_fast_v4.wgsl vs matmul_sg.wgsl) on the page's
// adapter; SLAK_E2E_TUNE_FWD=<samples> adds whole SLaK-T forwards, tuned vs static. Run on
// request: SLAK_E2E_SG_AB=<samples> go test ./engine/gpu -run SubgroupAB -v
func TestBrowserSubgroupAB(t *testing.T) {
	n := os.Getenv("SLAK_E2E_SG_AB")
	if n == "" {
		t.Skip("set SLAK_E2E_SG_AB=<samples> to run the in-browser subgroup GEMM A/B")
	}
	q := "?ab=" + n
	if m := os.Getenv("SLAK_E2E_TUNE_FWD"); m != "" {
		q += "&fwd=" + m // SLaK-T forwards with the tuned choices vs the static rules
	}
	if m := os.Getenv("SLAK_E2E_TUNE_MODEL"); m != "" {
		q += "&model=" + m // another model for the forwards (default slak_t)
	}
	out := browserPage(t, q, 9*time.Minute)
	t.Logf("\n%s", out)
	if strings.Contains(out, "ERROR") {
		t.Fatal("A/B failed")
	}
}

// browserPage builds engine/gpu/internal/browsertest for GOOS=js, opens index.html+query in
// headless Chromium on SwiftShader's WebGPU and returns the page's text once its title is DONE.
// It skips without Chromium (failing under CI=true or SLAK_REQUIRE_GPU=1).
func browserPage(t *testing.T, query string, wait time.Duration) string {
	t.Helper()
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
	ctx, tcancel := context.WithTimeout(ctx, wait+30*time.Second)
	defer tcancel()
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL+"/index.html"+query)); err != nil {
		t.Fatalf("navigate: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.title == "DONE"`,
		chromedp.WithPollingTimeout(wait), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		t.Fatalf("waiting for the page: %v", err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
	if err != nil {
		t.Fatal(err)
	}
	return out
}
