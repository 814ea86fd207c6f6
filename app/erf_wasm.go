//go:build wasm

package main

// The receptive-field view's and the /bench page's browser half: requests to
// the engine goroutine (engine.go) and painting into canvases.

import (
	"math"
	"strings"
	"syscall/js"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/slak-web/slak/engine/erf"
)

// send queues a request for the engine goroutine without blocking the UI.
func send(ctx app.Context, r engineRequest) {
	ctx.Async(func() { engineRequests <- r })
}

// erfOptions reads the test-only URL parameters of the receptive-field view.
func erfOptions(q map[string][]string, opts *engineOptions) {
	opts.ERFModels = []string{"convnext_t", "slak_t31", "slak_t"}
	if m := first(q["erfmodels"]); m != "" {
		opts.ERFModels = strings.Split(m, ",") // tests only: tiny variants
	}
	if l := first(q["erflimit"]); l != "" {
		for _, c := range l {
			if c < '0' || c > '9' {
				return
			}
			opts.ERFLimitMiB = opts.ERFLimitMiB*10 + int(c-'0')
		}
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func (p *page) onOpenBench(ctx app.Context, e app.Event) {
	// A full load: the bench page starts its own engine without a model.
	app.Window().Get("location").Set("href", "/bench")
}

// openHome leaves /bench for the app (a full load: /bench started its engine
// without a model).
func (p *page) openHome(ctx app.Context, view string) {
	u := "/"
	if view == viewERF {
		u = "/?view=erf"
	}
	app.Window().Get("location").Set("href", u)
}

func (p *page) requestKernels(ctx app.Context) {
	p.kv.Busy = true
	send(ctx, engineRequest{Kind: reqKernels, Panel: p.kv.Panel, Layer: p.kv.Layer, Chan: p.kv.Channel})
}

func (p *page) requestRemask(ctx app.Context, sparsity int) {
	p.kv.Busy = true
	send(ctx, engineRequest{Kind: reqRemask, Sparsity: sparsity, Panel: p.kv.Panel, Layer: p.kv.Layer, Chan: p.kv.Channel})
}

func (p *page) onERFRun(ctx app.Context, e app.Event) {
	p.erf.Running, p.erf.Err, p.erf.Stage, p.erf.Panels = true, nil, "Starting…", nil
	p.erf.Runs++
	send(ctx, engineRequest{Kind: reqERF, ERFMode: p.erf.Mode, Size: p.erf.Size, N: p.erf.N})
}

func (p *page) onERFCancel(ctx app.Context, e app.Event) {
	p.erf.Stage = "Cancelling after the current image…"
	cancelERF()
}

func (p *page) cmap() erf.Colormap {
	if p.erf.Cividis {
		return erf.Cividis
	}
	return erf.Viridis
}

// paintERF draws every panel's heatmap after the next render.
func (p *page) paintERF(ctx app.Context) {
	pageCtx.Defer(func(app.Context) {
		for i, pn := range p.erf.Panels {
			m := p.erfMap(pn)
			if len(m) != pn.S*pn.S {
				continue
			}
			js.Global().Call("slakPutRGBA", "erf-canvas-"+itoa(i), bytesToJS(p.cmap().RGBA(m, 255)), pn.S, pn.S)
		}
	})
}

// paintKernels draws the kernel viewer: |w| / max|w| of the channel's
// kernels in the colormap, exact zeros (the sparse mask) in light pink.
func (p *page) paintKernels(ctx app.Context) {
	k := p.kv
	var mx float64
	for _, w := range [][]float32{k.Tall, k.Wide, k.Small, k.Merged} {
		for _, v := range w {
			mx = math.Max(mx, math.Abs(float64(v)))
		}
	}
	paint := func(id string, w []float32, cols, rows int) {
		if len(w) == 0 || len(w) != cols*rows {
			return
		}
		px := make([]byte, 4*len(w))
		for i, v := range w {
			if v == 0 || mx == 0 {
				px[4*i], px[4*i+1], px[4*i+2] = 255, 200, 221
			} else {
				px[4*i], px[4*i+1], px[4*i+2] = p.cmap().RGB(float32(math.Abs(float64(v)) / mx))
			}
			px[4*i+3] = 255
		}
		js.Global().Call("slakPutRGBA", id, bytesToJS(px), cols, rows)
	}
	pageCtx.Defer(func(app.Context) {
		paint("kv-tall", k.Tall, k.N, k.K)
		paint("kv-wide", k.Wide, k.K, k.N)
		paint("kv-small", k.Small, k.N, k.N)
		paint("kv-merged", k.Merged, k.K, k.K)
	})
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func (p *page) onBenchRun(ctx app.Context, e app.Event) {
	p.bench.Running, p.bench.Err = true, ""
	send(ctx, engineRequest{Kind: reqBench, BenchFilter: p.bench.Filter, BenchReps: p.bench.Reps, BenchForwards: p.bench.Forwards, BenchTune: p.bench.Tune})
}

// onBenchCopy copies the report's JSON to the clipboard.
func (p *page) onBenchCopy(ctx app.Context, e app.Event) {
	data := p.bench.JSON
	ctx.Async(func() {
		clip := js.Global().Get("navigator").Get("clipboard")
		msg := "copied"
		if !clip.Truthy() {
			msg = "no clipboard here: copy it from the JSON box below"
		} else if _, err := await(clip.Call("writeText", data)); err != nil {
			msg = "the browser refused the clipboard (" + err.Error() + "): copy it from the JSON box below"
		}
		report(ctx, func(p *page) { p.bench.Copied = msg })
	})
}
