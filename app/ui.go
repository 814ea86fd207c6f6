package main

import (
	"fmt"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/slak-web/slak/engine/model"
)

// page is the Classify screen. Its fields are written only on the UI
// goroutine (event handlers and ctx.Dispatch callbacks); the engine goroutine
// reports through ctx.Dispatch (engine.go).
type page struct {
	app.Compo

	ready   bool   // the engine goroutine has started and the page takes input
	status  string // one line of what is happening now
	busy    bool   // a classification or model load is running
	device  deviceInfo
	modelID string // selected entry of modelChoices
	model   modelState
	load    *loadProgress
	tune    tuneStatus
	cached  []cachedFile
	current *result
	history []*result
	showAll bool
	err     *uiError
	nextID  int

	view  string // viewClassify, viewERF, or viewBench (the /bench route)
	erf   erfState
	kv    kernelState
	bench benchState
}

// deviceInfo is the capability check and the engine in use.
type deviceInfo struct {
	Checked  bool
	WebGPU   bool // navigator.gpu exists
	Adapter  bool // an adapter was granted
	Software bool // isFallbackAdapter (SwiftShader, lavapipe, WARP)
	Lost     bool
	Engine   string // "WebGPU" or "CPU reference (WebAssembly)"
	Name     string // vendor · architecture · description
	Features []string
	Limits   string
}

// modelState is the model that is loaded now.
type modelState struct {
	Name      string // variant id
	Label     string
	Untrained bool
	Source    string // "built-in random weights (seed 1)", "from this device", a URL, a file name
	Remasked  bool   // the weights are orig re-masked by the sparsity control
}

// tuneStatus is the kernel tuner's state (engine.go tuneStep): it runs in the background and
// pauses for every request.
type tuneStatus struct {
	Running, Paused bool
	Done, Total     int // layer configurations
	Stage           string
	Line            string // what the status line says ("" shows nothing)
}

// loadProgress is a weight download or conversion in progress.
type loadProgress struct {
	Label         string
	Loaded, Total int64
	Stage         string
}

type cachedFile struct {
	Name string
	Size int64
}

// result is one classified input, kept in the history strip.
type result struct {
	ID       int
	Name     string // file name or sample name
	Src      string // object URL of the original
	W, H     int
	Crop     [4]float64 // x, y, w, h of the 224² crop as fractions of the original
	Probs    []classProb
	Timing   timing
	Model    string
	Engine   string
	Untrain  bool
	Warnings []string
	cropRGBA []byte // the 224² model input, de-normalised, RGBA
}

type classProb struct {
	Index int
	Name  string
	P     float32
}

// timing is in milliseconds; First marks the first run of a loaded model
// (pipeline compilation and uploads included).
type timing struct {
	Decode, Preprocess, Forward, Readback, Total float64
	First                                        bool
	FirstTotal                                   float64 // the first run of this model, for comparison on warm runs
}

// uiError is a problem shown to the person, with what to do next.
type uiError struct {
	Kind   string // stable id used by tests and CSS: not-image, corrupt, enormous, bomb, weights, device-lost, ...
	Title  string
	Detail string
	Next   string
	Retry  bool // offer "Retry" (recreate the device and reload the model)
}

// modelChoice is one entry of the model picker.
type modelChoice struct {
	ID      string // "builtin" or a variant id
	Label   string
	Kernel  string
	SizeMB  float64 // converted f16 file size, approximately
	Builtin bool
}

var modelChoices = []modelChoice{
	{ID: "builtin", Label: "Built-in SLaK-T, untrained (no download)", Kernel: "51×51", Builtin: true},
	{ID: "slak_t", Label: "SLaK-T", Kernel: "51×51"},
	{ID: "slak_s", Label: "SLaK-S", Kernel: "51×51"},
	{ID: "slak_b", Label: "SLaK-B", Kernel: "51×51"},
	{ID: "slak_t31", Label: "SLaK-T 31", Kernel: "31×31"},
	{ID: "convnext_t", Label: "ConvNeXt-T", Kernel: "7×7"},
	{ID: "replknet_31b", Label: "RepLKNet-31B", Kernel: "31×31"},
}

// The download size shown before download: a converted file (make weights,
// f16 by default) stores every deploy tensor densely, 2 bytes a value (the
// 40% sparse zeros included), plus a small JSON header.
func init() {
	for i, c := range modelChoices {
		if v, err := model.Lookup(c.ID); err == nil {
			n := 0
			for _, e := range model.DeployKeys(v) {
				k := 1
				for _, d := range e.Shape {
					k *= d
				}
				n += k
			}
			modelChoices[i].SizeMB = 2 * float64(n) / 1e6
		}
	}
}

func choiceByID(id string) modelChoice {
	for _, c := range modelChoices {
		if c.ID == id {
			return c
		}
	}
	return modelChoices[0]
}

// samples are the licence-clean photos under web/samples (see LICENSES.md).
var samples = []struct{ File, Label string }{
	{"chelsea.png", "Cat"},
	{"coffee.jpg", "Coffee"},
	{"astronaut.jpg", "Astronaut"},
	{"rocket.jpg", "Rocket"},
}

func (p *page) OnMount(ctx app.Context) {
	if p.modelID == "" {
		p.modelID = "builtin"
	}
	p.initViews(ctx.Page().URL().Path)
	if ctx.Page().URL().Query().Get("view") == viewERF && p.view == viewClassify {
		p.view = viewERF
	}
	p.status = "Starting the engine…"
	p.start(ctx) // browser_wasm.go: listeners, capability check, engine goroutine
}

func (p *page) Render() app.UI {
	return app.Div().Class("shell").DataSet("ready", p.ready).DataSet("busy", p.busy).DataSet("results", p.nextID).Body(
		app.Div().ID("drop-overlay").Aria("hidden", "true").Body(
			app.Div().Class("drop-overlay-box").Text("Drop a photo to classify it, or a weight file to load it"),
		),
		p.renderHeader(),
		p.renderTabs(),
		app.If(p.view == viewBench, func() app.UI { return p.renderBench() }).
			ElseIf(p.view == viewERF, func() app.UI { return p.renderERF() }).
			Else(func() app.UI { return p.renderClassify() }),
		app.Footer().Class("foot").Body(
			app.Text("SLaK: Liu et al., ICLR 2023 (sparse 51×51 kernels). Sample photos: CC0 / public domain, see "),
			app.A().Href("/web/samples/LICENSES.md").Text("licences"),
			app.Text(". Everything runs in this tab; nothing is uploaded."),
		),
	)
}

// initViews picks the view from the route and sets the ERF defaults.
func (p *page) initViews(path string) {
	if p.view == "" {
		p.view = viewClassify
		if strings.TrimSuffix(path, "/") == "/bench" {
			p.view = viewBench
		}
	}
	if p.erf.Mode == "" {
		p.erf.Mode, p.erf.Size, p.erf.N, p.erf.Opacity = erfLive, 224, 8, 70
	}
	if p.bench.Reps == 0 {
		p.bench.Reps, p.bench.Tune = 5, true
	}
}

func (p *page) renderClassify() app.UI {
	return app.Main().Class("layout").Body(
		app.Section().Class("input-col").Body(
			p.renderModel(),
			p.renderDropZone(),
			p.renderSamples(),
			p.renderError(),
		),
		app.Section().Class("result-col").Body(
			p.renderResult(),
			p.renderHistory(),
		),
	)
}

func (p *page) renderHeader() app.UI {
	d := p.device
	chip := "checking device…"
	cls := "chip"
	if d.Checked {
		switch {
		case d.Lost:
			chip, cls = "GPU device lost", "chip chip-bad"
		case d.Engine == engineCPU:
			chip, cls = "CPU reference (WebAssembly)", "chip chip-warn"
		case d.Software:
			chip, cls = "WebGPU · software GPU", "chip chip-warn"
		default:
			chip, cls = "WebGPU · hardware GPU", "chip chip-ok"
		}
	}
	return app.Header().Class("top").Body(
		app.Div().Class("brand").Body(
			app.H1().Text("SLaK in the browser"),
			app.P().Class("tagline").Text("Sparse 51×51 large-kernel ConvNets, running on WebGPU in this tab"),
		),
		app.Div().Class("device").Body(
			app.Span().ID("device-chip").Class(cls).Title(d.Name).Text(chip),
			app.If(d.Checked && d.Engine == engineGPU && d.Software && !d.Lost, func() app.UI {
				return app.Span().ID("software-note").Class("chip-note").Text("software GPU: expect seconds per photo")
			}).ElseIf(d.Checked && d.Engine == engineCPU, func() app.UI {
				return app.Span().ID("software-note").Class("chip-note").Text("no WebGPU: CPU reference engine, slower")
			}),
			app.If(d.Checked, func() app.UI {
				return app.Details().Class("device-details").Body(
					app.Summary().Text("Device"),
					app.Dl().Body(
						app.Dt().Text("Engine"), app.Dd().ID("device-engine").Text(d.Engine),
						app.Dt().Text("Adapter"), app.Dd().ID("device-name").Text(orDash(d.Name)),
						app.Dt().Text("Features"), app.Dd().Text(orDash(strings.Join(d.Features, ", "))),
						app.Dt().Text("Limits"), app.Dd().Text(orDash(d.Limits)),
					),
				)
			}),
		),
	)
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func (p *page) renderModel() app.UI {
	sel := choiceByID(p.modelID)
	return app.Div().Class("card model").Body(
		app.Label().For("model-picker").Class("label").Text("Model"),
		app.Select().ID("model-picker").Disabled(p.busy).OnChange(p.onPickModel).Body(
			app.Range(modelChoices).Slice(func(i int) app.UI {
				c := modelChoices[i]
				label := c.Label + " (" + c.Kernel + ")"
				if !c.Builtin {
					label += fmt.Sprintf(" · ≈%.0f MB", c.SizeMB)
				}
				return app.Option().Value(c.ID).Selected(c.ID == p.modelID).Text(label)
			}),
		),
		app.If(p.model.Name != "", func() app.UI {
			return app.P().ID("model-loaded").Class("model-loaded").Body(
				app.Text("Loaded: "), app.B().Text(p.model.Label), app.Text(" · "+p.model.Source),
			)
		}),
		app.If(p.model.Untrained, func() app.UI {
			return app.P().ID("untrained-note").Class("note note-warn").Text(
				"Untrained: predictions are meaningless; load official weights.")
		}),
		app.If(!sel.Builtin, func() app.UI {
			url := "/web/models/" + sel.ID + ".safetensors"
			return app.Div().Class("weights-help").Body(
				app.P().Body(
					app.Text(fmt.Sprintf("%s needs a converted checkpoint (≈%.0f MB as f16). Convert the official .pth with ", sel.Label, sel.SizeMB)),
					app.Code().Text("make weights CKPT=file.pth VARIANT="+sel.ID),
					app.Text(" and put it at "), app.Code().Text("web"+strings.TrimPrefix(url, "/web")),
					app.Text(", or drop a converted .safetensors or the official .pth onto this page."),
				),
				app.Button().ID("load-url").Class("btn").Disabled(p.busy).OnClick(p.onLoadURL).
					Text(fmt.Sprintf("Download %s (≈%.0f MB)", sel.Label, sel.SizeMB)),
			)
		}),
		app.If(p.load != nil, func() app.UI {
			l := p.load
			pct := 0.0
			if l.Total > 0 {
				pct = 100 * float64(l.Loaded) / float64(l.Total)
			}
			return app.Div().ID("load-progress").Class("progress-wrap").Body(
				app.Div().Class("progress-label").Text(fmt.Sprintf("%s: %s %s", l.Label, l.Stage, bytesOf(l.Loaded, l.Total))),
				app.Progress().Max(100).Value(fmt.Sprintf("%.1f", pct)).Aria("label", l.Label),
			)
		}),
		app.If(p.tune.Running && !p.tune.Paused && p.tune.Total > 0, func() app.UI {
			t := p.tune
			return app.Div().ID("tune-progress").Class("progress-wrap").Body(
				app.Div().Class("progress-label").Text(fmt.Sprintf("Tuning kernels for this GPU: %d/%d %s", t.Done, t.Total, t.Stage)),
				app.Progress().Max(t.Total).Value(t.Done).Aria("label", "kernel tuning"),
			)
		}),
		app.If(p.tune.Line != "", func() app.UI {
			return app.P().ID("tune-status").Class("note").DataSet("running", p.tune.Running).DataSet("paused", p.tune.Paused).Text(p.tune.Line)
		}),
		app.If(len(p.cached) > 0, func() app.UI {
			return app.Div().Class("cached").Body(
				app.Span().Class("label").Text("On this device"),
				app.Ul().Body(app.Range(p.cached).Slice(func(i int) app.UI {
					c := p.cached[i]
					return app.Li().Body(
						app.Span().Text(fmt.Sprintf("%s (%.1f MB)", c.Name, float64(c.Size)/1e6)),
						app.Button().Class("btn btn-small").Aria("label", "Delete "+c.Name+" from this device").
							OnClick(func(ctx app.Context, e app.Event) { p.deleteCached(ctx, c.Name) }).Text("Delete"),
					)
				})),
			)
		}),
	)
}

func bytesOf(n, total int64) string {
	if total > 0 {
		return fmt.Sprintf("%.1f / %.1f MB", float64(n)/1e6, float64(total)/1e6)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

func (p *page) onPickModel(ctx app.Context, e app.Event) {
	p.modelID = ctx.JSSrc().Get("value").String()
	p.err = nil
	if p.modelID == "builtin" && p.model.Name != "" && !p.model.Untrained {
		p.loadBuiltin(ctx)
	}
}

func (p *page) onLoadURL(ctx app.Context, e app.Event) {
	sel := choiceByID(p.modelID)
	p.loadURL(ctx, sel.ID, "/web/models/"+sel.ID+".safetensors")
}

func (p *page) renderDropZone() app.UI {
	hint := "Drop a photo anywhere, paste one (Ctrl/Cmd-V), or press to choose a file"
	if !p.ready {
		hint = "Starting…"
	}
	return app.Div().Class("card").Body(
		app.Div().ID("dropzone").Class("dropzone").Role("button").TabIndex(0).
			Aria("label", "Choose a photo or a weight file").Aria("describedby", "dropzone-hint").
			Aria("disabled", !p.ready).
			OnClick(p.onPick).OnKeyDown(p.onDropZoneKey).Body(
			app.Div().Class("dropzone-icon").Aria("hidden", "true").Text("⇪"),
			app.Div().Class("dropzone-title").Text("Drop a photo"),
			app.Div().ID("dropzone-hint").Class("dropzone-hint").Text(hint),
		),
		app.Input().ID("file-input").Type("file").Accept("image/*,.safetensors,.pth,.pt").Class("visually-hidden").TabIndex(-1).Aria("hidden", "true"),
		app.P().ID("status").Class("status").Aria("live", "polite").Text(p.status),
	)
}

func (p *page) onDropZoneKey(ctx app.Context, e app.Event) {
	k := e.Get("key").String()
	if k == "Enter" || k == " " || k == "Spacebar" {
		e.PreventDefault()
		p.onPick(ctx, e)
	}
}

func (p *page) onPick(ctx app.Context, e app.Event) {
	if !p.ready {
		return
	}
	app.Window().Call("slakPick", "file-input")
}

func (p *page) renderSamples() app.UI {
	return app.Div().Class("card samples").Body(
		app.Span().Class("label").Text("Or try a sample"),
		app.Div().Class("gallery").Body(app.Range(samples).Slice(func(i int) app.UI {
			s := samples[i]
			return app.Button().Class("sample").ID("sample-"+strings.TrimSuffix(strings.TrimSuffix(s.File, ".png"), ".jpg")).
				Disabled(!p.ready || p.busy).Aria("label", "Classify the sample photo: "+s.Label).
				OnClick(func(ctx app.Context, e app.Event) { p.loadSample(ctx, "/web/samples/"+s.File, s.Label) }).Body(
				app.Img().Src("/web/samples/"+s.File).Alt("").Loading("lazy"),
				app.Span().Text(s.Label),
			)
		})),
	)
}

func (p *page) renderError() app.UI {
	if p.err == nil {
		return app.Div().ID("error").Class("error-slot")
	}
	e := p.err
	return app.Div().ID("error").Class("card error").Role("alert").DataSet("kind", e.Kind).Body(
		app.H2().Class("error-title").Text(e.Title),
		app.P().Class("error-detail").Text(e.Detail),
		app.P().Class("error-next").Text(e.Next),
		app.Div().Class("error-actions").Body(
			app.If(e.Retry, func() app.UI {
				return app.Button().ID("retry").Class("btn btn-primary").OnClick(p.onRetry).Text("Retry")
			}),
			app.Button().Class("btn").OnClick(func(ctx app.Context, ev app.Event) { p.err = nil }).Text("Dismiss"),
		),
	)
}

func (p *page) onRetry(ctx app.Context, e app.Event) {
	p.err = nil
	p.retry(ctx)
}

func (p *page) renderResult() app.UI {
	r := p.current
	return app.Div().ID("results").Class("card results").Aria("live", "polite").Aria("busy", p.busy).Body(
		app.If(r == nil, func() app.UI {
			return app.Div().Class("empty").Body(
				app.H2().Text("Top-5"),
				app.P().Text("Results appear here: the five most likely of the 1000 ImageNet classes, the 224×224 crop the model sees, and timings."),
			)
		}).Else(func() app.UI {
			n := 5
			if p.showAll {
				n = len(r.Probs)
			}
			return app.Div().Body(
				app.H2().Body(app.Text("Top-5 for "), app.Span().ID("result-name").Text(r.Name)),
				app.If(r.Untrain, func() app.UI {
					return app.P().Class("note note-warn").Text("Untrained weights: these classes are meaningless.")
				}),
				app.Div().Class("views").Body(
					app.Figure().Class("original").Body(
						app.Div().Class("original-box").Body(
							app.Img().ID("original-img").Src(r.Src).Alt("the input photo"),
							app.Div().ID("crop-rect").Class("crop-rect").Title("the 224×224 centre crop the model sees").
								Style("left", pct(r.Crop[0])).Style("top", pct(r.Crop[1])).
								Style("width", pct(r.Crop[2])).Style("height", pct(r.Crop[3])),
						),
						app.FigCaption().Text(fmt.Sprintf("Original %d×%d; box: the centre crop", r.W, r.H)),
					),
					app.Figure().Class("crop").Body(
						app.Canvas().ID("crop-canvas").Width(224).Height(224).Aria("label", "the 224×224 input the model sees"),
						app.FigCaption().Text("Model input 224×224 (bicubic, short side 256)"),
					),
				),
				app.Ol().ID("top5").Class("bars").Body(
					app.Range(r.Probs[:min(n, len(r.Probs))]).Slice(func(i int) app.UI {
						c := r.Probs[i]
						return app.Li().Class("bar").DataSet("index", c.Index).DataSet("p", fmt.Sprintf("%.6f", c.P)).Body(
							app.Span().Class("bar-name").Text(c.Name),
							app.Span().Class("bar-track").Body(
								app.Span().Class("bar-fill").Style("width", pct(float64(c.P))),
							),
							app.Span().Class("bar-pct").Text(fmt.Sprintf("%.1f%%", 100*c.P)),
						)
					}),
				),
				app.Button().ID("show-all").Class("btn btn-small").Aria("expanded", p.showAll).
					OnClick(func(ctx app.Context, e app.Event) { p.showAll = !p.showAll }).
					Text(map[bool]string{false: fmt.Sprintf("Show all %d classes", len(r.Probs)), true: "Show top 5 only"}[p.showAll]),
				p.renderTiming(r),
			)
		}),
	)
}

func (p *page) renderTiming(r *result) app.UI {
	t := r.Timing
	run := "warm run"
	if t.First {
		run = "first run (includes pipeline setup)"
	} else if t.FirstTotal > 0 {
		run = "warm run; the first run of this model took " + ms(t.FirstTotal)
	}
	return app.Div().ID("timing").Class("timing").Body(
		app.Span().Text(fmt.Sprintf("%s · %s", r.Engine, r.Model)),
		app.Dl().Body(
			app.Dt().Text("decode"), app.Dd().Text(ms(t.Decode)),
			app.Dt().Text("preprocess"), app.Dd().Text(ms(t.Preprocess)),
			app.Dt().Text(map[bool]string{true: "GPU", false: "forward"}[r.Engine == engineGPU]), app.Dd().Text(ms(t.Forward)),
			app.Dt().Text("readback"), app.Dd().Text(ms(t.Readback)),
			app.Dt().Text("total"), app.Dd().ID("timing-total").Text(ms(t.Total)),
		),
		app.Span().Class("timing-run").Text(run),
	)
}

func ms(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2f s", v/1000)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func pct(f float64) string { return fmt.Sprintf("%.3f%%", 100*f) }

func (p *page) renderHistory() app.UI {
	if len(p.history) == 0 {
		return app.Div().ID("history")
	}
	return app.Div().ID("history").Class("card history").Body(
		app.Span().Class("label").Text("Earlier inputs"),
		app.Ul().Class("strip").Body(app.Range(p.history).Slice(func(i int) app.UI {
			r := p.history[i]
			top := ""
			if len(r.Probs) > 0 {
				top = fmt.Sprintf("%s %.0f%%", r.Probs[0].Name, 100*r.Probs[0].P)
			}
			return app.Li().Body(
				app.Button().Class("hist").Aria("label", "Show the result for "+r.Name).
					OnClick(func(ctx app.Context, e app.Event) { p.showResult(ctx, r) }).Body(
					app.Img().Src(r.Src).Alt(""),
					app.Span().Class("hist-name").Text(r.Name),
					app.Span().Class("hist-top").Text(top),
				),
			)
		})),
	)
}

// showResult makes r the current result (from the history strip).
func (p *page) showResult(ctx app.Context, r *result) {
	p.current = r
	p.showAll = false
	p.drawCrop(ctx, r)
}

// Engines as shown in the device chip and timings.
const (
	engineGPU = "WebGPU"
	engineCPU = "CPU reference (WebAssembly)"
)
