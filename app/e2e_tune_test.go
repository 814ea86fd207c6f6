//go:build !wasm

package main

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// tuneSaved is true when the page's localStorage holds saved kernel choices
// (gpu.Backend.SaveTuned's "slak-tune/…" keys).
const tuneSaved = `Object.keys(localStorage).some(k => k.startsWith('slak-tune/'))`

// TestBrowserTuneInBackground: the kernel tuner runs after the page is ready
// and never holds a person's request. The tiny built-in model with
// ?tunedelay=400 (400 ms before each of the tuner's checks for a waiting
// request, debug only) tunes for tens of seconds on SwiftShader; a photo
// dropped into it is classified within seconds, the tuning pauses (nothing
// saved: a partial run is not a complete one), resumes when the engine is
// idle, finishes, and only then is saved. A reload restores the saved choices
// without tuning.
func TestBrowserTuneInBackground(t *testing.T) {
	requireBrowser(t)
	root := buildSite(t)
	srv := httptest.NewServer(newHandler(root))
	defer srv.Close()
	const variant = "slak_tiny"
	b := newBrowser(t, true)
	url := srv.URL + "/?debug=1&tunedelay=400&builtin=" + variant
	if _, err := chromedp.Run(b.ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	b.poll(t, "the engine to be ready", `document.querySelector('.shell') && document.querySelector('.shell').dataset.ready === 'true'`, 2*time.Minute)
	b.poll(t, "the tuner to run", `!!document.querySelector('#tune-progress')`, time.Minute)
	tuneStart := time.Now()
	time.Sleep(2 * time.Second) // into the tuning
	if evalT[bool](t, b, tuneSaved) {
		t.Fatalf("kernel choices saved while tuning (%s)", b.text(t, "#tune-status"))
	}
	// The first drop also compiles the model's pipelines (tens of seconds on
	// SwiftShader): it must not wait for the tuning on top.
	t0 := time.Now()
	b.dropURL(t, "/web/samples/chelsea.png", "chelsea.png")
	b.waitResult(t, "chelsea.png", 2*time.Minute)
	t.Logf("drop during tuning → result in %.1f s (page timing %s); tuner then: %q", time.Since(t0).Seconds(),
		strings.ReplaceAll(b.text(t, "#timing"), "\n", " "), b.text(t, "#tune-status"))
	checkTop5(t, b, variant, "WebGPU during tuning")
	// The tuning resumes when the engine is idle; a second (warm) drop into it
	// is classified within seconds and finds the tuning paused, not finished.
	b.poll(t, "the tuner to resume", `!!document.querySelector('#tune-progress')`, time.Minute)
	time.Sleep(time.Second)
	t1 := time.Now()
	b.dropURL(t, "/web/samples/rocket.jpg", "rocket.jpg")
	b.waitResult(t, "rocket.jpg", 2*time.Minute)
	took := time.Since(t1)
	atResult := b.text(t, "#tune-status")
	savedAtResult := evalT[bool](t, b, tuneSaved)
	t.Logf("warm drop during tuning → result in %.1f s (page timing %s); tuner then: %q", took.Seconds(),
		strings.ReplaceAll(b.text(t, "#timing"), "\n", " "), atResult)
	if !strings.Contains(atResult, "paused") && !strings.Contains(atResult, "background") {
		t.Errorf("tuner status when the result came = %q, want it paused or still running (the drop must not wait for the tuning)", atResult)
	}
	if savedAtResult {
		t.Errorf("kernel choices saved before the tuning finished")
	}
	b.poll(t, "the tuning to finish", `(document.querySelector('#tune-status')||{innerText:''}).innerText.includes('Kernels tuned')`, 3*time.Minute)
	left := time.Since(t1)
	done := b.text(t, "#tune-status")
	t.Logf("tuning finished %.1f s after it started, %.1f s after the warm drop: %q", time.Since(tuneStart).Seconds(), left.Seconds(), done)
	// The wait is at most one timed kernel run of the tuner (its first run of a
	// variant compiles a pipeline: up to ~5 s on SwiftShader) and one tunedelay;
	// the warm classification itself takes well under a second.
	if took > 15*time.Second || took >= left {
		t.Errorf("the warm drop's result took %.1f s; the tuning ended %.1f s after the drop: want the result within 15 s, before the tuning ends", took.Seconds(), left.Seconds())
	}
	if strings.Contains(done, "in 1 part") {
		t.Errorf("tuning status %q: want it finished in more than one part (stopped for the drops, resumed)", done)
	}
	if !evalT[bool](t, b, tuneSaved) {
		t.Errorf("kernel choices not saved after the tuning finished")
	}
	// The next visit restores them without tuning.
	if _, err := chromedp.Run(b.ctx, chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	b.poll(t, "the restored kernel choices", `(document.querySelector('#tune-status')||{innerText:''}).innerText.includes('restored')`, 2*time.Minute)
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors or uncaught exceptions:\n%s", strings.Join(errs, "\n"))
	}
}
