//go:build !wasm

package main

// Browser tests of the receptive-field view, its kernel viewer and sparsity
// control, the memory refusal, and the /bench page (headless Chromium,
// SwiftShader WebGPU). The panels run the tiny test configurations of the
// three families (URL parameter erfmodels, test only): the full ConvNeXt-T,
// SLaK-T 31 and SLaK-T input gradients take minutes each on SwiftShader.

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const erfTestModels = "convnext_tiny,replknet_tiny,slak_tiny"

// setValue sets a form control's value and fires the event go-app listens to.
func (b *browser) setValue(t *testing.T, sel, value, event string) {
	t.Helper()
	b.eval(t, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q;
		e.dispatchEvent(new Event(%q, {bubbles: true})); })()`, sel, value, event))
}

func (b *browser) click(t *testing.T, sel string) {
	t.Helper()
	b.eval(t, fmt.Sprintf(`document.querySelector(%q).click()`, sel))
}

type shownPanel struct {
	Label   string   `json:"label"`
	R       []string `json:"r"`
	Std     float64  `json:"std"` // standard deviation of the canvas' red channel
	Painted bool     `json:"painted"`
}

// panels reads the ERF panels: their r cells and how much the canvas varies.
func (b *browser) panels(t *testing.T) []shownPanel {
	t.Helper()
	raw := evalT[[]byte](t, b, `Array.from(document.querySelectorAll('.erf-panel')).map(f => {
		const c = f.querySelector('canvas');
		let std = 0, painted = false;
		if (c && c.width > 0) {
			const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
			let s = 0, s2 = 0, n = 0;
			for (let i = 0; i < d.length; i += 4) { s += d[i]; s2 += d[i]*d[i]; n++; if (d[i+3] > 0) painted = true; }
			std = Math.sqrt(Math.max(0, s2/n - (s/n)*(s/n)));
		}
		return {label: f.querySelector('h3').innerText, painted, std,
			r: Array.from(f.querySelectorAll('.erf-r')).map(td => td.dataset.r)};
	})`)
	var out []shownPanel
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkPanels asserts three painted panels, each with four r values that are
// "none" or numbers in [0, 1], non-decreasing in t, at least one a number.
func checkPanels(t *testing.T, what string, ps []shownPanel) {
	t.Helper()
	if len(ps) != 3 {
		t.Fatalf("%s: %d panels, want 3", what, len(ps))
	}
	for _, p := range ps {
		if !p.Painted || p.Std < 1 {
			t.Errorf("%s: panel %q: canvas painted=%v, red-channel std %.2f (want a painted, non-uniform heatmap)", what, p.Label, p.Painted, p.Std)
		}
		if len(p.R) != 4 {
			t.Errorf("%s: panel %q: %d r values, want 4 (t = 20/30/50/99 %%)", what, p.Label, len(p.R))
			continue
		}
		numbers, last := 0, -1.0
		for i, s := range p.R {
			if s == "none" {
				last = 2 // every later threshold must be "none" too
				continue
			}
			r, err := strconv.ParseFloat(s, 64)
			if err != nil || r < 0 || r > 1 || r < last {
				t.Errorf("%s: panel %q: r[%d] = %q, want a number in [0, 1], ≥ the previous threshold's (%g), or none", what, p.Label, i, s, last)
			}
			last = r
			numbers++
		}
		if numbers == 0 {
			t.Errorf("%s: panel %q: no r value found: %v", what, p.Label, p.R)
		}
	}
}

// runERF presses the run button and waits until that run has finished.
func (b *browser) runERF(t *testing.T, what string, timeout time.Duration) {
	t.Helper()
	runs := evalT[string](t, b, `document.querySelector('#erf-panels').dataset.runs`)
	n, _ := strconv.Atoi(runs)
	b.click(t, "#erf-run")
	b.poll(t, what, fmt.Sprintf(`document.querySelector('#erf-panels').dataset.done === '%d'`, n+1), timeout)
}

func (b *browser) waitPanels(t *testing.T, what string, timeout time.Duration) {
	t.Helper()
	b.runERF(t, what, timeout)
	if e := b.text(t, "#erf-error"); e != "" {
		t.Fatalf("%s: the ERF view shows an error: %s", what, e)
	}
}

// TestBrowserERF walks the receptive-field view: live ERF of a dropped photo
// (three panels with r values), the hover readout, the kernel viewer and the
// sparsity control, kernel-only mode, and the memory refusal.
func TestBrowserERF(t *testing.T) {
	requireBrowser(t)
	root := buildSite(t)
	srv := httptest.NewServer(newHandler(root))
	defer srv.Close()
	b := newBrowser(t, true)
	start := time.Now()
	if _, err := chromedp.Run(b.ctx, chromedp.Navigate(srv.URL+"/?builtin=slak_tiny&erfmodels="+erfTestModels)); err != nil {
		t.Fatal(err)
	}
	b.poll(t, "the engine to be ready", `document.querySelector('.shell') && document.querySelector('.shell').dataset.ready === 'true'`, 2*time.Minute)
	b.dropURL(t, "/web/samples/chelsea.png", "chelsea.png")
	b.waitResult(t, "chelsea.png", 2*time.Minute)
	t.Logf("ready and classified in %.1f s", time.Since(start).Seconds())

	// Live ERF at 224² (keyboard-reachable tab, a button).
	b.click(t, "#tab-erf")
	b.poll(t, "the ERF view", `!!document.querySelector('#erf-run') && !document.querySelector('#erf-run').disabled`, 10*time.Second)
	t0 := time.Now()
	b.waitPanels(t, "the live ERF panels", 3*time.Minute)
	t.Logf("live ERF, 3 tiny models at 224²: %.1f s", time.Since(t0).Seconds())
	live := b.panels(t)
	checkPanels(t, "live 224²", live)
	if s := b.text(t, "#erf-summary"); !strings.Contains(s, "r at 20%") || !strings.Contains(s, "untrained") {
		t.Errorf("screen-reader summary = %q, want the r values and the untrained label", s)
	}
	if c := b.text(t, "#erf-caption"); !strings.Contains(c, "224×224") || !strings.Contains(c, "chelsea.png") {
		t.Errorf("caption = %q, want the input size and the photo", c)
	}

	// Hover: one readout with every panel's value.
	b.eval(t, `(() => { const s = document.querySelector('#erf-panel-1 .erf-stack'); const r = s.getBoundingClientRect();
		s.dispatchEvent(new MouseEvent('mousemove', {bubbles: true, clientX: r.left + r.width/2, clientY: r.top + r.height/2})); })()`)
	b.poll(t, "the hover readout", `document.querySelector('#erf-hover').innerText.startsWith('at (')`, 5*time.Second)
	hover := b.text(t, "#erf-hover")
	for _, p := range live {
		label := strings.TrimSuffix(p.Label, "\nuntrained")
		if !strings.Contains(hover, strings.TrimSpace(label)) {
			t.Errorf("hover readout %q lacks panel %q", hover, label)
		}
	}
	// Linear scale and cividis repaint without recomputing.
	b.setValue(t, "#erf-transform", "linear", "change")
	b.setValue(t, "#erf-cmap", "cividis", "change")
	b.poll(t, "the linear legend", `document.querySelector('.erf-legend').innerText.includes('A / max') && document.querySelector('.erf-legend').innerText.includes('cividis')`, 5*time.Second)
	checkPanels(t, "linear, cividis", b.panels(t))
	b.setValue(t, "#erf-transform", "log", "change")
	b.setValue(t, "#erf-cmap", "viridis", "change")
	b.screenshot(t, "screenshot-erf.png")

	// Kernel viewer: the merged kernel and the density of the layer.
	b.poll(t, "the kernel viewer", `!!document.querySelector('#kv-merged') && !!document.querySelector('#kv-density')`, time.Minute)
	b.poll(t, "the painted merged kernel", `(() => { const c = document.querySelector('#kv-merged');
		const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		let pink = 0, other = 0;
		for (let i = 0; i < d.length; i += 4) { if (d[i+3] === 0) return false; if (d[i] === 255 && d[i+1] === 200 && d[i+2] === 221) pink++; else other++; }
		return pink > 0 && other > 0; })()`, 10*time.Second) // zeros in pink and weights in the colormap
	before := b.text(t, "#kv-density")
	if !strings.Contains(before, "density") {
		t.Fatalf("kernel viewer density = %q", before)
	}
	b.setValue(t, "#kv-sparsity", "80", "input")
	b.click(t, "#kv-apply")
	b.poll(t, "the re-masked weights", `document.querySelector('#kv-applied').innerText.includes('80%') && !document.querySelector('#kv-apply').disabled`, time.Minute)
	after := b.text(t, "#kv-density")
	var dens float64
	if i := strings.Index(after, "density "); i >= 0 {
		fmt.Sscanf(after[i+len("density "):], "%g%%", &dens)
	}
	if dens <= 0 || dens > 20.5 { // 80 % zeros in every branch tensor: density ≤ 20 % (+ rounding of round(0.8·numel))
		t.Errorf("after re-masking to 80%%: %q, want a density in (0, 20.5]%%", after)
	}
	// The classifier runs on the re-masked weights; Reset restores them.
	b.click(t, "#kv-reset")
	b.poll(t, "the original weights", `document.querySelector('#kv-applied').innerText.startsWith('Original')`, time.Minute)
	if got := b.text(t, "#kv-density"); got != before {
		t.Errorf("after Reset the density reads %q, want the original %q", got, before)
	}

	// Averaged over the last 2 photos (a second photo dropped on the ERF view).
	b.dropURL(t, "/web/samples/coffee.jpg", "coffee.jpg")
	b.poll(t, "the second photo", `document.querySelector('.shell').dataset.results === '2' && document.querySelector('.shell').dataset.busy === 'false'`, 2*time.Minute)
	b.click(t, "#erf-mode-avg")
	b.setValue(t, "#erf-n", "2", "change")
	b.waitPanels(t, "the averaged panels", 3*time.Minute)
	if c := b.text(t, "#erf-caption"); !strings.Contains(c, "Averaged over 2 of your photos") {
		t.Errorf("caption = %q, want 'Averaged over 2 of your photos'", c)
	}
	checkPanels(t, "averaged over 2", b.panels(t))

	// Kernel-only mode (no image).
	b.click(t, "#erf-mode-kernel")
	b.waitPanels(t, "the kernel-only panels", time.Minute)
	if c := b.text(t, "#erf-caption"); !strings.Contains(c, "Kernel-only") {
		t.Errorf("caption = %q, want the kernel-only label", c)
	}
	checkPanels(t, "kernel-only", b.panels(t))

	// The memory check refuses 1024² against a 1 MiB limit (test-only
	// override: SwiftShader's own limits are large), naming the numbers.
	if _, err := chromedp.Run(b.ctx, chromedp.Navigate(srv.URL+"/?builtin=slak_tiny&erflimit=1&erfmodels="+erfTestModels)); err != nil {
		t.Fatal(err)
	}
	b.poll(t, "the engine to be ready", `document.querySelector('.shell') && document.querySelector('.shell').dataset.ready === 'true'`, 2*time.Minute)
	b.dropURL(t, "/web/samples/rocket.jpg", "rocket.jpg")
	b.waitResult(t, "rocket.jpg", 2*time.Minute)
	b.click(t, "#tab-erf")
	b.poll(t, "the ERF view", `!!document.querySelector('#erf-size')`, 10*time.Second)
	b.setValue(t, "#erf-size", "1024", "change")
	b.runERF(t, "the memory refusal", 30*time.Second)
	msg := b.text(t, "#erf-error")
	for _, want := range []string{"1024×1024 is too large", "MiB", "1.0 MiB per storage binding", "smaller input size"} {
		if !strings.Contains(msg, want) {
			t.Errorf("memory refusal %q lacks %q", msg, want)
		}
	}
	if n := evalT[int](t, b, `document.querySelectorAll('.erf-panel').length`); n != 0 {
		t.Errorf("%d panels after a refusal, want 0", n)
	}
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors or uncaught exceptions:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserBench runs one benchmark row on /bench and checks the table.
func TestBrowserBench(t *testing.T) {
	requireBrowser(t)
	root := buildSite(t)
	srv := httptest.NewServer(newHandler(root))
	defer srv.Close()
	b := newBrowser(t, true)
	if _, err := chromedp.Run(b.ctx, chromedp.Navigate(srv.URL+"/bench")); err != nil {
		t.Fatal(err)
	}
	b.poll(t, "the bench page", `document.querySelector('.shell').dataset.ready === 'true' && !!document.querySelector('#bench-run') && !document.querySelector('#bench-run').disabled`, time.Minute)
	b.setValue(t, "#bench-filter", "s3_pw2", "change")
	b.setValue(t, "#bench-reps", "2", "change")
	t0 := time.Now()
	b.click(t, "#bench-run")
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](`document.querySelectorAll('.bench-row').length >= 2 && !document.querySelector('#bench-progress')`,
		chromedp.WithPollingTimeout(3*time.Minute), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		b.screenshot(t, "bench-failed.png")
		t.Fatalf("waiting for the benchmark rows: %v\npage: %s", err, b.text(t, ".bench-view"))
	}
	t.Logf("bench (FMA peak + 1 row, 2 samples) in %.1f s", time.Since(t0).Seconds())
	if e := b.text(t, "#bench-error"); e != "" {
		t.Fatalf("bench error: %s", e)
	}
	raw := evalT[[]byte](t, b, `Array.from(document.querySelectorAll('.bench-row')).map(r => ({name: r.dataset.name,
		median: Number(r.querySelector('.median').innerText), gflops: Number(r.querySelector('.gflops').innerText)}))`)
	var rows []struct {
		Name           string
		Median, GFLOPs float64
	}
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	if rows[0].Name != "fmapeak" || rows[1].Name != "slak_t_s3_pw2_scale_res" {
		t.Errorf("rows %+v, want fmapeak then slak_t_s3_pw2_scale_res", rows)
	}
	for _, r := range rows {
		if !(r.Median > 0) || !(r.GFLOPs > 0) {
			t.Errorf("row %s: median %g ms, %g GFLOP/s, want positive numbers", r.Name, r.Median, r.GFLOPs)
		}
	}
	var rep struct {
		Peak float64 `json:"fma_peak_gflops"`
		Rows []struct {
			Name   string `json:"name"`
			Kernel string `json:"kernel"`
			Note   string `json:"note"`
		} `json:"rows"`
		Tune *struct {
			Results []struct {
				Config, Winner string
			} `json:"results"`
		} `json:"tune"`
	}
	if err := json.Unmarshal([]byte(evalT[string](t, b, `document.querySelector('#bench-json').textContent`)), &rep); err != nil || rep.Peak <= 0 || len(rep.Rows) != 2 {
		t.Fatalf("the JSON box does not hold the report (%v): peak %g, %d rows", err, rep.Peak, len(rep.Rows))
	}
	// Tuning first is the page's default: the one configuration of the selected
	// row is tuned, and the row ran the tuned choice (the bench's kernel check
	// would say otherwise in the note).
	if rep.Tune == nil || len(rep.Tune.Results) != 1 {
		t.Errorf("tune report %+v, want the configuration of slak_t_s3_pw2_scale_res tuned first", rep.Tune)
	} else if r := rep.Rows[1]; !strings.HasSuffix(r.Kernel, "(tuned)") && rep.Tune.Results[0].Winner != "" || strings.Contains(r.Note, "kernel check") {
		t.Errorf("row %s: kernel %q, note %q; tuned %+v", r.Name, r.Kernel, r.Note, rep.Tune.Results[0])
	} else {
		t.Logf("tuned %+v; row %s ran %s", rep.Tune.Results[0], r.Name, r.Kernel)
	}
	b.click(t, "#bench-copy")
	b.poll(t, "the copy feedback", `document.querySelector('#bench-copied').innerText !== ''`, 10*time.Second)
	b.screenshot(t, "bench.png")
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors or uncaught exceptions:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserERFFull is a measurement, not part of the default run
// (SLAK_E2E_ERF_FULL=1): the three full built-in models (ConvNeXt-T, SLaK-T
// 31, SLaK-T), kernel-only and live at 224² on SwiftShader, with the
// screenshots of the README (SLAK_SCREENSHOT_DIR).
func TestBrowserERFFull(t *testing.T) {
	if os.Getenv("SLAK_E2E_ERF_FULL") != "1" {
		t.Skip("measurement: set SLAK_E2E_ERF_FULL=1 (about 10 minutes on 2 cores)")
	}
	requireBrowser(t)
	root := buildSite(t)
	srv := httptest.NewServer(newHandler(root))
	defer srv.Close()
	b := newBrowser(t, true)
	start := time.Now()
	if _, err := chromedp.Run(b.ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	b.poll(t, "the engine to be ready", `document.querySelector('.shell') && document.querySelector('.shell').dataset.ready === 'true'`, 4*time.Minute)
	t.Logf("ready in %.1f s", time.Since(start).Seconds())
	b.dropURL(t, "/web/samples/chelsea.png", "chelsea.png")
	b.waitResult(t, "chelsea.png", 8*time.Minute)
	b.click(t, "#tab-erf")
	b.poll(t, "the ERF view", `!!document.querySelector('#erf-run') && !document.querySelector('#erf-run').disabled`, 10*time.Second)
	b.click(t, "#erf-mode-kernel")
	t0 := time.Now()
	b.waitPanels(t, "the kernel-only panels", 5*time.Minute)
	t.Logf("kernel-only, full models at 224²: %.1f s (%s)", time.Since(t0).Seconds(), b.text(t, "#erf-summary"))
	checkPanels(t, "kernel-only full", b.panels(t))
	b.screenshot(t, "screenshot-erf-kernel.png")
	b.click(t, "#erf-mode-live")
	t0 = time.Now()
	b.waitPanels(t, "the live panels", 20*time.Minute)
	t.Logf("live, full models at 224²: %.1f s (%s)", time.Since(t0).Seconds(), b.text(t, "#erf-summary"))
	checkPanels(t, "live full", b.panels(t))
	b.screenshot(t, "screenshot-erf.png")
	if errs := b.errors(); len(errs) > 0 {
		t.Errorf("console errors or uncaught exceptions:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserBenchRecord runs the whole in-browser benchmark (every layer row,
// and the whole forwards unless SLAK_E2E_BENCH_FORWARDS=0; after the kernel
// tuner for SLaK-T, as the app runs, unless SLAK_E2E_BENCH_TUNE=0) on SwiftShader and
// writes its JSON report to $SLAK_E2E_BENCH_OUT. It is a measurement, not a
// check, so it runs only when that variable is set (the README's browser
// numbers come from it):
//
//	SLAK_E2E_BENCH_OUT=/tmp/browser-bench.json go test ./app -run TestBrowserBenchRecord -timeout 60m -v
func TestBrowserBenchRecord(t *testing.T) {
	out := os.Getenv("SLAK_E2E_BENCH_OUT")
	if out == "" {
		t.Skip("set SLAK_E2E_BENCH_OUT=file.json to record the in-browser benchmark")
	}
	requireBrowser(t)
	root := buildSite(t)
	srv := httptest.NewServer(newHandler(root))
	defer srv.Close()
	b := newBrowser(t, true)
	if _, err := chromedp.Run(b.ctx, chromedp.Navigate(srv.URL+"/bench")); err != nil {
		t.Fatal(err)
	}
	b.poll(t, "the bench page", `document.querySelector('.shell').dataset.ready === 'true' && !!document.querySelector('#bench-run') && !document.querySelector('#bench-run').disabled`, time.Minute)
	b.setValue(t, "#bench-filter", os.Getenv("SLAK_E2E_BENCH_FILTER"), "change")
	reps := os.Getenv("SLAK_E2E_BENCH_REPS")
	if reps == "" {
		reps = "10"
	}
	b.setValue(t, "#bench-reps", reps, "change")
	if os.Getenv("SLAK_E2E_BENCH_FORWARDS") != "0" {
		b.click(t, "#bench-forwards")
	}
	if os.Getenv("SLAK_E2E_BENCH_TUNE") == "0" { // the page tunes first by default
		b.click(t, "#bench-tune")
	}
	t0 := time.Now()
	b.click(t, "#bench-run")
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](`!document.querySelector('#bench-progress') && (document.querySelector('#bench-json').textContent !== '' || document.querySelector('#bench-error'))`,
		chromedp.WithPollingTimeout(55*time.Minute), chromedp.WithPollingInterval(time.Second))); err != nil {
		t.Fatalf("waiting for the benchmark: %v", err)
	}
	if e := b.text(t, "#bench-error"); e != "" {
		t.Fatalf("bench error: %s", e)
	}
	js := evalT[string](t, b, `document.querySelector('#bench-json').textContent`)
	if err := os.WriteFile(out, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("in-browser benchmark in %.0f s → %s", time.Since(t0).Seconds(), out)
}
