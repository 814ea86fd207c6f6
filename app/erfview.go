package main

// erfview.go is the "Receptive field" view (three panels: 7×7, 31×31, 51×51),
// its kernel viewer with the sparsity control, and the /bench page. Like
// ui.go it builds natively too (pre-rendering), so it imports nothing that
// needs the GPU binding: the engine goroutine (engine.go) computes the maps,
// ratios and kernels, and erf_wasm.go paints them.

import (
	"fmt"
	"strings"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// Views of the page.
const (
	viewClassify = "classify"
	viewERF      = "erf"
	viewBench    = "bench"
)

// ERF modes.
const (
	erfLive   = "live"
	erfAvg    = "avg"
	erfKernel = "kernel"
)

// erfSizes are the input sides offered (erf.Sizes: 224, 512, 1024).
var erfSizes = []int{224, 512, 1024}

// ratioT is one area ratio r at threshold T (erf.Ratio, copied so this file
// builds without the engine).
type ratioT struct {
	T     float64
	Found bool
	Side  int
	R     float64 // side² / (H·W)
}

// erfPanel is one model's ERF as the engine computed it.
type erfPanel struct {
	Variant   string
	Label     string // "SLaK-T (51×51)"
	Untrained bool
	Source    string
	S         int       // input side
	RF        int       // theoretical receptive field side in input pixels
	Log, Lin  []float32 // [S, S] log10(A+1)/max and A/max
	Ratios    []ratioT  // at 20/30/50/99 %, on the log map (RepLKNet's analysis)
	Images    int       // images averaged (0: kernel-only)
	Ms        float64
	Err       string // this panel failed (the others may still show)
}

// erfState is the view's state (UI goroutine only).
type erfState struct {
	Mode      string
	Size      int
	N         int    // images to average
	Linear    bool   // linear A/max instead of log
	Cividis   bool   // cividis instead of viridis
	Opacity   int    // heatmap opacity over the photo, %
	Running   bool   // a run is in progress
	Done, Tot int    // progress in images × panels (or panels)
	Stage     string // what runs now
	Panels    []*erfPanel
	Err       *uiError
	Hover     string // hover readout
	ModeRun   string // mode of the shown panels
	ImgSrc    string // the photo under the overlay (live / averaged: the last one)
	ImgName   string
	Models    []string // panel labels before a run (from the engine)
	Runs      int      // runs started (tests wait for data-done to reach it)
	RunsDone  int      // runs finished, refused or cancelled
}

// kernelState is the kernel viewer's state.
type kernelState struct {
	Panel     int // which panel's model
	Layer     int
	Channel   int
	Layers    []kernelLayer // the model's LK layers with their density
	K, N      int
	C         int
	Tall      []float32 // [K, N]
	Wide      []float32 // [N, K]
	Small     []float32 // [N, N]
	Merged    []float32 // [K, K]
	Density   float64
	Sparsity  int // slider value, %
	Applied   int // sparsity applied to the weights now, % (0: original)
	Busy      bool
	Err       string
	ModelName string
}

// kernelLayer is one row of the density list.
type kernelLayer struct {
	Name    string // "stage 2 · block 1"
	K, N, C int
	Density float64
}

// benchState is the /bench page.
type benchState struct {
	Running     bool
	Filter      string
	Reps        int
	Forwards    bool // include whole SLaK-T, ConvNeXt-T and RepLKNet-31B forwards (minutes on a software adapter)
	Tune        bool // run the kernel tuner for SLaK-T first, as the app does (on by default)
	Lines       []string
	Rows        []benchRow
	Peak        float64
	Adapter     string
	AdapterInfo string
	JSON        string
	Err         string
	Seconds     float64
	Copied      string
}

// benchRow mirrors the columns of bench.Row the table shows.
type benchRow struct {
	Name, Kind, Shape          string
	MedianMs, MinMs            float64
	GFLOPs, PctPeak            float64
	DirectMedianMs, Speedup    float64
	NoSkipMedianMs, SparseGain float64
	Note, Kernel               string
}

func (p *page) renderTabs() app.UI {
	tab := func(id, view, label string) app.UI {
		on := p.view == view
		return app.Button().ID(id).Class(map[bool]string{true: "tab tab-on", false: "tab"}[on]).Role("tab").
			Aria("selected", on).OnClick(func(ctx app.Context, e app.Event) { p.setView(ctx, view) }).Text(label)
	}
	return app.Nav().Class("tabs").Role("tablist").Aria("label", "Views").Body(
		tab("tab-classify", viewClassify, "Classify"),
		tab("tab-erf", viewERF, "Receptive field"),
		app.Button().ID("tab-bench").Class("tab").OnClick(p.onOpenBench).Text("Benchmark ↗"),
	)
}

func (p *page) setView(ctx app.Context, view string) {
	if p.view == viewBench {
		p.openHome(ctx, view) // /bench has no model loaded: a full load of the app
		return
	}
	p.view = view
	if view == viewERF {
		if p.kv.Layers == nil && p.ready {
			p.requestKernels(ctx)
		}
		// The canvases are new: paint what was computed while hidden.
		p.paintERF(ctx)
		p.paintKernels(ctx)
	}
}

// ---- Receptive field ----

func (p *page) renderERF() app.UI {
	e := &p.erf
	return app.Main().Class("erf-view").Body(
		app.Section().Class("card erf-controls").Aria("label", "Receptive-field settings").Body(
			app.H2().Text("Effective receptive field"),
			app.Div().Class("erf-row").Body(
				app.FieldSet().Class("erf-modes").Body(
					app.Legend().Text("Mode"),
					p.radio("erf-mode", "erf-mode-live", erfLive, e.Mode == erfLive, "This image (live)", p.onERFMode),
					p.radio("erf-mode", "erf-mode-avg", erfAvg, e.Mode == erfAvg, fmt.Sprintf("Averaged over your last N = %d photos (the history)", e.N), p.onERFMode),
					p.radio("erf-mode", "erf-mode-kernel", erfKernel, e.Mode == erfKernel, "Kernel-only (cheap, no image)", p.onERFMode),
				),
				app.Div().Class("erf-opts").Body(
					app.Label().For("erf-n").Text("N "),
					app.Input().ID("erf-n").Type("number").Min(1).Max(12).Value(fmt.Sprint(e.N)).Disabled(e.Running).
						Aria("label", "number of photos to average").OnChange(p.onERFN),
					app.Label().For("erf-size").Text(" Input size "),
					app.Select().ID("erf-size").Disabled(e.Running).OnChange(p.onERFSize).Body(
						app.Range(erfSizes).Slice(func(i int) app.UI {
							s := erfSizes[i]
							return app.Option().Value(fmt.Sprint(s)).Selected(s == e.Size).Text(fmt.Sprintf("%d × %d", s, s))
						}),
					),
					app.Label().For("erf-transform").Text(" Scale "),
					app.Select().ID("erf-transform").OnChange(p.onERFTransform).Body(
						app.Option().Value("log").Selected(!e.Linear).Text("log: log10(A+1)/max (RepLKNet)"),
						app.Option().Value("linear").Selected(e.Linear).Text("linear: A/max (SLaK's figure)"),
					),
					app.Label().For("erf-cmap").Text(" Colours "),
					app.Select().ID("erf-cmap").OnChange(p.onERFCmap).Body(
						app.Option().Value("viridis").Selected(!e.Cividis).Text("viridis"),
						app.Option().Value("cividis").Selected(e.Cividis).Text("cividis"),
					),
					app.Label().For("erf-opacity").Text(" Heatmap opacity "),
					app.Input().ID("erf-opacity").Type("range").Min(0).Max(100).Step(5).Value(fmt.Sprint(e.Opacity)).
						Aria("valuetext", fmt.Sprintf("%d%%", e.Opacity)).OnInput(p.onERFOpacity),
				),
			),
			app.Div().Class("erf-actions").Body(
				app.Button().ID("erf-run").Class("btn btn-primary").Disabled(e.Running || !p.ready || (e.Mode == erfLive && p.current == nil)).
					OnClick(p.onERFRun).Text(p.erfRunLabel()),
				app.If(e.Running, func() app.UI {
					return app.Button().ID("erf-cancel").Class("btn").OnClick(p.onERFCancel).Text("Cancel")
				}),
				app.If(e.Mode == erfLive && p.current == nil, func() app.UI {
					return app.Span().Class("note").Text("Classify a photo first (Classify tab): the live ERF uses it.")
				}),
			),
			app.If(e.Running, func() app.UI {
				pc := 0.0
				if e.Tot > 0 {
					pc = 100 * float64(e.Done) / float64(e.Tot)
				}
				return app.Div().ID("erf-progress").Class("progress-wrap").Body(
					app.Div().Class("progress-label").Text(e.Stage),
					app.Progress().Max(100).Value(fmt.Sprintf("%.1f", pc)).Aria("label", "receptive-field progress"),
				)
			}),
			app.If(e.Err != nil, func() app.UI {
				return app.Div().ID("erf-error").Class("error").Role("alert").DataSet("kind", e.Err.Kind).Body(
					app.H3().Class("error-title").Text(e.Err.Title),
					app.P().Class("error-detail").Text(e.Err.Detail),
					app.P().Class("error-next").Text(e.Err.Next),
				)
			}),
		),
		p.renderERFPanels(),
		p.renderKernelViewer(),
		app.Section().Class("card explainer").Body(
			app.H2().Text("What this shows"),
			app.Ul().Body(
				app.Li().Text("The effective receptive field (ERF) is how much each input pixel moves the centre feature of the last stage: A = Σ_rgb max(∂S/∂x, 0) with S = Σ_c max(F[c, h/2, w/2], 0) (RepLKNet's method, which SLaK copies). It is NOT a class heatmap: it does not say where the cat is, only how far the network looks from the centre."),
				app.Li().Text("r at t is the area of the smallest centred square holding more than t of the (log-scaled) total, as a fraction of the input: a small r at 99 % means the ERF is concentrated; larger kernels spread it."),
				app.Li().Text("Resolution changes the picture: at 224² the 51×51 kernels see the whole image; RepLKNet and SLaK measured at 1024², where kernel size matters most."),
				app.Li().Text("Untrained weights (the built-in random models) show very different ERFs from trained ones; load an official checkpoint of a variant to see its real ERF."),
				app.Li().Text("Kernel-only pushes an impulse back through the mean |kernel| of each depthwise layer and the downsampling geometry only: what the kernels alone can reach, with no image and no nonlinearity."),
			),
		),
	)
}

func (p *page) erfRunLabel() string {
	switch p.erf.Mode {
	case erfAvg:
		return "Compute averaged ERFs"
	case erfKernel:
		return "Compute kernel-only views"
	}
	return "Compute ERFs for this photo"
}

func (p *page) radio(name, id, value string, checked bool, label string, h app.EventHandler) app.UI {
	return app.Label().For(id).Class("radio").Body(
		app.Input().Type("radio").Name(name).ID(id).Value(value).Checked(checked).OnChange(h),
		app.Text(" "+label),
	)
}

func (p *page) onERFMode(ctx app.Context, e app.Event) {
	p.erf.Mode = ctx.JSSrc().Get("value").String()
}

func (p *page) onERFN(ctx app.Context, e app.Event) {
	fmt.Sscan(ctx.JSSrc().Get("value").String(), &p.erf.N)
	p.erf.N = max(1, min(12, p.erf.N))
}

func (p *page) onERFSize(ctx app.Context, e app.Event) {
	fmt.Sscan(ctx.JSSrc().Get("value").String(), &p.erf.Size)
}

func (p *page) onERFTransform(ctx app.Context, e app.Event) {
	p.erf.Linear = ctx.JSSrc().Get("value").String() == "linear"
	p.paintERF(ctx)
}

func (p *page) onERFCmap(ctx app.Context, e app.Event) {
	p.erf.Cividis = ctx.JSSrc().Get("value").String() == "cividis"
	p.paintERF(ctx)
	p.paintKernels(ctx)
}

func (p *page) onERFOpacity(ctx app.Context, e app.Event) {
	fmt.Sscan(ctx.JSSrc().Get("value").String(), &p.erf.Opacity)
}

// erfMap returns the displayed map of a panel.
func (p *page) erfMap(pn *erfPanel) []float32 {
	if p.erf.Linear {
		return pn.Lin
	}
	return pn.Log
}

func (p *page) renderERFPanels() app.UI {
	e := &p.erf
	labels := e.Models
	if len(e.Panels) > 0 {
		labels = nil
	}
	scale := "log10(A+1) / max, per panel"
	if e.Linear {
		scale = "A / max, per panel"
	}
	return app.Section().ID("erf-panels").Class("card").Aria("label", "Receptive-field panels").
		DataSet("runs", e.Runs).DataSet("done", e.RunsDone).Body(
		app.If(len(e.Panels) == 0, func() app.UI {
			return app.P().Class("empty").Text("Press the button above to compute the ERFs of: " + strings.Join(labels, ", ") + ".")
		}).Else(func() app.UI {
			return app.Div().Body(
				app.P().ID("erf-caption").Class("erf-caption").Text(p.erfCaption()),
				app.Div().Class("erf-grid").Body(app.Range(e.Panels).Slice(func(i int) app.UI { return p.renderPanel(i) })),
				app.Div().Class("erf-legend").Body(
					app.Span().Text("0"),
					app.Span().Class("erf-bar").Class(map[bool]string{true: "erf-bar-cividis", false: "erf-bar-viridis"}[e.Cividis]).Aria("hidden", "true"),
					app.Span().Text("1"),
					app.Span().Class("erf-legend-label").Text(" one shared colour scale: "+scale+" ("+map[bool]string{true: "cividis", false: "viridis"}[e.Cividis]+"); dashed box: theoretical receptive field"),
				),
				app.P().ID("erf-hover").Class("erf-hover").Aria("live", "off").Text(orDash(e.Hover)),
				app.P().ID("erf-summary").Class("visually-hidden-summary").Aria("live", "polite").Text(p.erfSummary()),
			)
		}),
	)
}

func (p *page) erfCaption() string {
	e := &p.erf
	if len(e.Panels) == 0 {
		return ""
	}
	s := e.Panels[0].S
	switch e.ModeRun {
	case erfKernel:
		return fmt.Sprintf("Kernel-only view at %d×%d input (no image).", s, s)
	case erfAvg:
		return fmt.Sprintf("Averaged over %d of your photos at %d×%d input (each warped to %d², as RepLKNet's script does).", e.Panels[0].Images, s, s, s)
	}
	return fmt.Sprintf("Live ERF of %s at %d×%d input (warped to %d²), computed on the %s engine.", e.ImgName, s, s, s, p.device.Engine)
}

// erfSummary is the text summary of the heatmaps for screen readers.
func (p *page) erfSummary() string {
	var parts []string
	for _, pn := range p.erf.Panels {
		if pn.Err != "" {
			parts = append(parts, pn.Label+": failed: "+pn.Err)
			continue
		}
		var rs []string
		for _, r := range pn.Ratios {
			rs = append(rs, fmt.Sprintf("r at %g%% %s", 100*r.T, ratioText(r)))
		}
		u := ""
		if pn.Untrained {
			u = ", untrained"
		}
		parts = append(parts, fmt.Sprintf("%s%s: %s", pn.Label, u, strings.Join(rs, ", ")))
	}
	return "Receptive fields. " + strings.Join(parts, ". ") + "."
}

func ratioText(r ratioT) string {
	if !r.Found {
		return "none"
	}
	return fmt.Sprintf("%.4f", r.R)
}

func (p *page) renderPanel(i int) app.UI {
	e := &p.erf
	pn := e.Panels[i]
	return app.Figure().ID(fmt.Sprintf("erf-panel-%d", i)).Class("erf-panel").DataSet("variant", pn.Variant).Body(
		app.H3().Body(
			app.Text(pn.Label),
			app.If(pn.Untrained, func() app.UI { return app.Span().Class("badge badge-warn").Text("untrained") }),
		),
		app.If(pn.Err != "", func() app.UI {
			return app.P().Class("error-detail").Text(pn.Err)
		}).ElseIf(len(pn.Log) > 0, func() app.UI {
			box := float64(pn.RF) / float64(pn.S)
			return app.Div().Class("erf-stack").
				OnMouseMove(func(ctx app.Context, ev app.Event) { p.onERFHover(ctx, ev) }).
				OnMouseLeave(func(ctx app.Context, ev app.Event) { p.erf.Hover = "" }).Body(
				app.If(e.ModeRun != erfKernel && e.ImgSrc != "", func() app.UI {
					return app.Img().Class("erf-photo").Src(e.ImgSrc).Alt("")
				}),
				app.Canvas().ID(fmt.Sprintf("erf-canvas-%d", i)).Class("erf-canvas").Width(pn.S).Height(pn.S).
					Style("opacity", fmt.Sprintf("%.2f", p.heatOpacity())).
					Aria("label", "ERF heatmap of "+pn.Label+"; the text summary follows the panels"),
				app.Div().Class("erf-rf").Title(fmt.Sprintf("theoretical receptive field %d×%d px", pn.RF, pn.RF)).
					Style("left", pct(0.5-box/2)).Style("top", pct(0.5-box/2)).Style("width", pct(box)).Style("height", pct(box)),
			)
		}),
		app.FigCaption().Body(
			app.Div().Class("erf-src").Text(pn.Source),
			app.Div().Class("erf-rf-text").Text(rfText(pn)),
			app.Table().Class("erf-ratios").Body(
				app.THead().Body(app.Tr().Body(app.Th().Text("t"), app.Th().Text("side"), app.Th().Text("r = side²/(H·W)"))),
				app.TBody().Body(app.Range(pn.Ratios).Slice(func(j int) app.UI {
					r := pn.Ratios[j]
					side := "—"
					if r.Found {
						side = fmt.Sprint(r.Side)
					}
					return app.Tr().Body(
						app.Td().Text(fmt.Sprintf("%g%%", 100*r.T)), app.Td().Text(side),
						app.Td().Class("erf-r").DataSet("t", r.T).DataSet("r", ratioText(r)).Text(ratioText(r)),
					)
				})),
			),
			app.If(pn.Ms > 0, func() app.UI { return app.Div().Class("erf-time").Text(ms(pn.Ms)) }),
		),
	)
}

func rfText(pn *erfPanel) string {
	if pn.RF >= pn.S {
		return fmt.Sprintf("theoretical RF %d×%d px: larger than the %d² input", pn.RF, pn.RF, pn.S)
	}
	return fmt.Sprintf("theoretical RF %d×%d px (dashed box)", pn.RF, pn.RF)
}

func (p *page) heatOpacity() float64 {
	if p.erf.ModeRun == erfKernel || p.erf.ImgSrc == "" {
		return 1
	}
	return float64(p.erf.Opacity) / 100
}

// onERFHover reads the value under the pointer in every panel.
func (p *page) onERFHover(ctx app.Context, ev app.Event) {
	r := ctx.JSSrc().Call("getBoundingClientRect")
	w, h := r.Get("width").Float(), r.Get("height").Float()
	if w <= 0 || h <= 0 {
		return
	}
	fx := (ev.Get("clientX").Float() - r.Get("left").Float()) / w
	fy := (ev.Get("clientY").Float() - r.Get("top").Float()) / h
	if fx < 0 || fy < 0 || fx >= 1 || fy >= 1 {
		return
	}
	var parts []string
	var x, y int
	for _, pn := range p.erf.Panels {
		m := p.erfMap(pn)
		if len(m) != pn.S*pn.S {
			continue
		}
		x, y = int(fx*float64(pn.S)), int(fy*float64(pn.S))
		parts = append(parts, fmt.Sprintf("%s %.3f", pn.Label, m[y*pn.S+x]))
	}
	p.erf.Hover = fmt.Sprintf("at (%d, %d): %s", x, y, strings.Join(parts, " · "))
}

// ---- kernel viewer ----

func (p *page) renderKernelViewer() app.UI {
	k := &p.kv
	return app.Section().ID("kernel-viewer").Class("card kernels").Aria("label", "Kernel viewer").Body(
		app.H2().Text("Kernel viewer"),
		app.Div().Class("erf-row").Body(
			app.Label().For("kv-model").Text("Model "),
			app.Select().ID("kv-model").Disabled(k.Busy).OnChange(p.onKVModel).Body(
				app.Range(p.erf.Models).Slice(func(i int) app.UI {
					return app.Option().Value(fmt.Sprint(i)).Selected(i == k.Panel).Text(p.erf.Models[i])
				}),
			),
			app.Label().For("kv-layer").Text(" Layer "),
			app.Select().ID("kv-layer").Disabled(k.Busy).OnChange(p.onKVLayer).Body(
				app.Range(k.Layers).Slice(func(i int) app.UI {
					l := k.Layers[i]
					return app.Option().Value(fmt.Sprint(i)).Selected(i == k.Layer).
						Text(fmt.Sprintf("%s · %d×%d · density %.1f%%", l.Name, l.K, l.K, 100*l.Density))
				}),
			),
			app.Label().For("kv-channel").Text(" Channel "),
			app.Input().ID("kv-channel").Type("number").Min(0).Max(max(0, k.C-1)).Value(fmt.Sprint(k.Channel)).
				Disabled(k.Busy).OnChange(p.onKVChannel),
		),
		app.If(k.Err != "", func() app.UI { return app.P().ID("kv-error").Class("error-detail").Role("alert").Text(k.Err) }),
		app.If(len(k.Merged) > 0, func() app.UI {
			return app.Div().Body(
				app.Div().Class("kv-grid").Body(
					p.kernelFig("kv-tall", fmt.Sprintf("%d×%d (tall)", k.K, k.N), k.Tall != nil, k.N, k.K),
					p.kernelFig("kv-wide", fmt.Sprintf("%d×%d (wide)", k.N, k.K), k.Wide != nil, k.K, k.N),
					p.kernelFig("kv-small", fmt.Sprintf("%d×%d (small)", k.N, k.N), k.Small != nil, k.N, k.N),
					p.kernelFig("kv-merged", fmt.Sprintf("merged %d×%d", k.K, k.K), true, k.K, k.K),
				),
				app.P().ID("kv-density").Class("note").Text(fmt.Sprintf(
					"%s, layer %s, channel %d: density %.1f%% over all branches and channels of this layer. Colour: |w| / max|w| of the kernel; exact zeros (the sparse mask) in light pink.",
					k.ModelName, p.kvLayerName(), k.Channel, 100*k.Density)),
			)
		}),
		app.Div().Class("sparsity").Body(
			app.Label().For("kv-sparsity").Text("Re-mask the depthwise kernels by magnitude to "),
			app.Input().ID("kv-sparsity").Type("range").Min(0).Max(90).Step(5).Value(fmt.Sprint(k.Sparsity)).
				Aria("valuetext", fmt.Sprintf("%d%% sparsity", k.Sparsity)).OnInput(p.onKVSparsity),
			app.Output().For("kv-sparsity").Text(fmt.Sprintf(" %d%% zeros", k.Sparsity)),
			app.Button().ID("kv-apply").Class("btn btn-small").Disabled(k.Busy || p.erf.Running || !p.ready).OnClick(p.onKVApply).Text("Apply"),
			app.Button().ID("kv-reset").Class("btn btn-small").Disabled(k.Busy || p.erf.Running || k.Applied == 0).OnClick(p.onKVReset).Text("Reset to the original weights"),
			app.P().ID("kv-applied").Class("note").Text(p.appliedText()),
		),
	)
}

func (p *page) appliedText() string {
	if p.kv.Applied == 0 {
		return "Original weights (built-in models: 40% of each depthwise kernel is zero). Zeros already there stay zero: a sparsity below that changes nothing."
	}
	return fmt.Sprintf("Depthwise kernels re-masked to %d%% zeros (erf.Remask, after BatchNorm folding) for the ERF models and the classifier; classify again or recompute the ERFs to see the change.", p.kv.Applied)
}

func (p *page) kvLayerName() string {
	if p.kv.Layer < len(p.kv.Layers) {
		return p.kv.Layers[p.kv.Layer].Name
	}
	return "?"
}

func (p *page) kernelFig(id, caption string, ok bool, w, h int) app.UI {
	if !ok || w <= 0 || h <= 0 {
		return app.Figure().Class("kv-fig kv-none").Body(app.FigCaption().Text(caption + ": none in this model"))
	}
	z := max(4, 208/max(p.kv.K, 1)) // CSS pixels per tap: the merged kernel ≈ 200 px wide
	return app.Figure().Class("kv-fig").Body(
		app.Canvas().ID(id).Class("kv-canvas").Width(w).Height(h).Style("width", fmt.Sprintf("%dpx", z*w)).
			Style("height", fmt.Sprintf("%dpx", z*h)).Aria("label", caption+" kernel"),
		app.FigCaption().Text(caption),
	)
}

func (p *page) onKVModel(ctx app.Context, e app.Event) {
	fmt.Sscan(ctx.JSSrc().Get("value").String(), &p.kv.Panel)
	p.kv.Layer, p.kv.Channel, p.kv.Layers = 0, 0, nil
	p.requestKernels(ctx)
}

func (p *page) onKVLayer(ctx app.Context, e app.Event) {
	fmt.Sscan(ctx.JSSrc().Get("value").String(), &p.kv.Layer)
	p.kv.Channel = 0
	p.requestKernels(ctx)
}

func (p *page) onKVChannel(ctx app.Context, e app.Event) {
	fmt.Sscan(ctx.JSSrc().Get("value").String(), &p.kv.Channel)
	if p.kv.C > 0 {
		p.kv.Channel = max(0, min(p.kv.C-1, p.kv.Channel))
	}
	p.requestKernels(ctx)
}

func (p *page) onKVSparsity(ctx app.Context, e app.Event) {
	fmt.Sscan(ctx.JSSrc().Get("value").String(), &p.kv.Sparsity)
}

func (p *page) onKVApply(ctx app.Context, e app.Event) { p.requestRemask(ctx, p.kv.Sparsity) }
func (p *page) onKVReset(ctx app.Context, e app.Event) {
	p.kv.Sparsity = 0
	p.requestRemask(ctx, 0)
}

// ---- /bench ----

func (p *page) renderBench() app.UI {
	b := &p.bench
	return app.Main().Class("bench-view").Body(
		app.Section().Class("card").Body(
			app.H2().Text("In-browser benchmark"),
			app.P().Text("The rows of make bench (engine/bench) on this page's WebGPU device: SLaK-T layers at 224², fast kernels against the direct kernels in the same run, and the measured fp32 FMA peak as the roofline. On a software adapter, ratios and % of peak mean more than milliseconds."),
			app.Div().Class("erf-row").Body(
				app.Label().For("bench-filter").Text("Rows containing "),
				app.Input().ID("bench-filter").Type("text").Value(b.Filter).Placeholder("(all)").Disabled(b.Running).
					OnChange(func(ctx app.Context, e app.Event) { b.Filter = ctx.JSSrc().Get("value").String() }),
				app.Label().For("bench-reps").Text(" samples per row "),
				app.Input().ID("bench-reps").Type("number").Min(1).Max(50).Value(fmt.Sprint(b.Reps)).Disabled(b.Running).
					OnChange(func(ctx app.Context, e app.Event) { fmt.Sscan(ctx.JSSrc().Get("value").String(), &b.Reps) }),
				app.Label().For("bench-forwards").Body(
					app.Input().ID("bench-forwards").Type("checkbox").Checked(b.Forwards).Disabled(b.Running).
						OnChange(func(ctx app.Context, e app.Event) { b.Forwards = ctx.JSSrc().Get("checked").Bool() }),
					app.Text(" whole forwards (SLaK-T, ConvNeXt-T, RepLKNet-31B: minutes on a software GPU)"),
				),
				app.Label().For("bench-tune").Body(
					app.Input().ID("bench-tune").Type("checkbox").Checked(b.Tune).Disabled(b.Running).
						OnChange(func(ctx app.Context, e app.Event) { b.Tune = ctx.JSSrc().Get("checked").Bool() }),
					app.Text(" tune the kernels first, as the app does for SLaK-T (off: the static kernel rules)"),
				),
				app.Button().ID("bench-run").Class("btn btn-primary").Disabled(b.Running || !p.ready).OnClick(p.onBenchRun).Text("Run"),
				app.Button().ID("bench-copy").Class("btn").Disabled(b.JSON == "").OnClick(p.onBenchCopy).Text("Copy JSON"),
				app.Span().ID("bench-copied").Class("note").Text(b.Copied),
			),
			app.If(b.Running, func() app.UI {
				last := "measuring the FMA peak…"
				if n := len(b.Lines); n > 0 {
					last = b.Lines[n-1]
				}
				return app.Div().ID("bench-progress").Class("progress-wrap").Body(
					app.Div().Class("progress-label").Text(fmt.Sprintf("%d rows measured · %s", len(b.Lines), last)),
					app.Progress().Aria("label", "benchmark running"),
				)
			}),
			app.If(b.Err != "", func() app.UI { return app.P().ID("bench-error").Class("error-detail").Role("alert").Text(b.Err) }),
		),
		app.Section().Class("card").Aria("live", "polite").Body(
			app.If(len(b.Rows) == 0, func() app.UI {
				return app.P().Class("empty").Text("No results yet.")
			}).Else(func() app.UI {
				return app.Div().Body(
					app.P().ID("bench-meta").Title(b.AdapterInfo).Text(fmt.Sprintf("%s · measured FMA peak %.1f GFLOP/s · %.1f s", b.Adapter, b.Peak, b.Seconds)),
					app.Table().ID("bench-table").Class("bench-table").Body(
						app.THead().Body(app.Tr().Body(
							app.Th().Text("row"), app.Th().Text("shape"), app.Th().Text("median ms"), app.Th().Text("min ms"),
							app.Th().Text("GFLOP/s"), app.Th().Text("% FMA peak"), app.Th().Text("direct ms"), app.Th().Text("× vs direct"), app.Th().Text("kernel"), app.Th().Text("note"),
						)),
						app.TBody().Body(app.Range(b.Rows).Slice(func(i int) app.UI {
							r := b.Rows[i]
							ratio, direct := "—", "—"
							if r.Speedup > 0 {
								ratio, direct = fmt.Sprintf("%.2f", r.Speedup), fmt.Sprintf("%.2f", r.DirectMedianMs)
							} else if r.SparseGain > 0 {
								ratio, direct = fmt.Sprintf("%.2f (zero-skip)", r.SparseGain), fmt.Sprintf("%.2f (no skip)", r.NoSkipMedianMs)
							}
							return app.Tr().Class("bench-row").DataSet("name", r.Name).Body(
								app.Td().Text(r.Name), app.Td().Text(r.Shape),
								app.Td().Class("num median").Text(fmt.Sprintf("%.3f", r.MedianMs)),
								app.Td().Class("num").Text(fmt.Sprintf("%.3f", r.MinMs)),
								app.Td().Class("num gflops").Text(fmt.Sprintf("%.2f", r.GFLOPs)),
								app.Td().Class("num").Text(fmt.Sprintf("%.1f", r.PctPeak)),
								app.Td().Class("num").Text(direct), app.Td().Class("num").Text(ratio),
								app.Td().Class("kernel").Text(r.Kernel),
								app.Td().Class("note").Text(r.Note),
							)
						})),
					),
					app.Details().Body(app.Summary().Text("JSON"), app.Pre().ID("bench-json").Text(b.JSON)),
				)
			}),
		),
	)
}
