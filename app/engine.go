//go:build wasm

package main

// engine.go is the only file of the app that talks to the engine. The engine
// runs in ONE goroutine (runEngine, started with ctx.Async) fed by
// engineRequests and reporting with ctx.Dispatch: WebGPU's async calls block
// the calling goroutine (ENGINE.md trap 6), and Go wasm is one thread, so the
// CPU fallback yields between ops (yieldBackend, trap 7).

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/slak-web/slak/engine/bench"
	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/erf"
	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/imagenet"
	"github.com/slak-web/slak/engine/imgprep"
	"github.com/slak-web/slak/engine/model"
	"github.com/slak-web/slak/engine/op"
	"github.com/slak-web/slak/weights"
	"github.com/slak-web/slak/weights/convert"
)

type reqKind int

const (
	reqClassify reqKind = iota
	reqWeights
	reqBuiltin
	reqRetry
	reqDebugLoseDevice // ?debug=1 only: make the GPU backend report a lost device
	reqERF             // receptive fields of the three panel models
	reqKernels         // kernel-viewer data of one layer and channel
	reqRemask          // re-mask the depthwise kernels to a sparsity
	reqBench           // the in-browser benchmark
)

type rgbaImage struct {
	Pix  []byte // RGBA8, W*H*4
	W, H int
	Src  string // object URL for display
}

// engineRequest is one unit of work for the engine goroutine.
type engineRequest struct {
	Kind     reqKind
	Name     string
	Image    *rgbaImage
	DecodeMs float64
	// weights: Data, or Src when the file is read lazily (a dropped file, lazyFile)
	Data       []byte
	Src        *lazyFile
	FileKind   fileKind
	Variant    string // expected variant ("" = infer from the file)
	FromDevice bool   // read from the IndexedDB cache
	CacheKey   string // store in the cache under this key once it loaded
	// receptive field, kernel viewer, sparsity, benchmark
	ERFMode            string
	Size, N            int
	Panel, Layer, Chan int
	Sparsity           int // %
	BenchFilter        string
	BenchReps          int
	BenchForwards      bool
	BenchTune          bool // run the kernel tuner for SLaK-T first (bench.Config.Tune)
}

// engineRequests feeds the engine goroutine; the UI never blocks on it
// (senders run in ctx.Async goroutines).
var engineRequests = make(chan engineRequest, 16)

type engineOptions struct {
	Builtin string // variant of the built-in random model ("slak_t"; tests may pick "slak_tiny")
	Seed    uint64
	Debug   bool
	// ERFModels are the receptive-field panels' variants (7×7, 31×31,
	// 51×51); tests may pick the tiny configurations.
	ERFModels []string
	// ERFLimitMiB, when > 0, replaces the device limits in the ERF memory
	// check (tests only: a software adapter's limits are large).
	ERFLimitMiB int
	// NoModel skips the built-in model (the /bench page needs none).
	NoModel bool
	// TuneDelay (?debug=1&tunedelay=ms, tests only) sleeps before each of the kernel tuner's
	// checks for a waiting request, so that a tiny model's tuning lasts long enough to drop a
	// photo into it.
	TuneDelay time.Duration
}

// engineState is owned by the engine goroutine.
type engineState struct {
	opts    engineOptions
	backend op.Backend
	gpuInfo *gpuInfoT // nil on the CPU fallback
	engine  string
	net     *model.Net
	variant model.Variant
	deploy  model.StateDict // kept to reload after a device loss
	label   modelState
	warm    bool    // the loaded model has run once
	firstMs float64 // total of the loaded model's first run

	photos    []namedImage               // classified photos, newest first (≤ 12), for the ERF
	orig      map[string]model.StateDict // original deploy weights per variant (built-in or loaded)
	origLabel map[string]modelState      // where orig came from
	sparsity  int                        // %; 0: the original weights
	masked    map[string]model.StateDict // orig re-masked to sparsity, per variant
	densities map[string][]kernelLayer   // per variant, at the current sparsity
	tuned     map[string]*tuneJob        // the kernel tuner's work per backend and variant
	tuneCur   *tuneJob                   // the loaded model's unfinished tuning (nil: none)
	lastReq   time.Time                  // when the last request was handled
}

type namedImage struct {
	Name string
	Img  *rgbaImage
}

func runEngine(ctx app.Context, p *page, opts engineOptions) {
	s := &engineState{opts: opts, orig: map[string]model.StateDict{}, origLabel: map[string]modelState{},
		masked: map[string]model.StateDict{}, densities: map[string][]kernelLayer{}}
	s.open(ctx)
	s.reportERFModels(ctx)
	var err error
	if !opts.NoModel {
		err = s.loadBuiltin(ctx)
	}
	if err != nil && s.engine == engineGPU {
		// The GPU refused the model (memory, limits, a validation error):
		// run it on the CPU reference instead, and say so.
		gpuErr := err
		s.backend, s.gpuInfo, s.engine = yieldBackend{cpu.NewBackend()}, nil, engineCPU
		if err = s.loadBuiltin(ctx); err == nil {
			report(ctx, func(p *page) {
				p.device.Engine = engineCPU
				p.err = &uiError{Kind: "gpu-model", Title: "The GPU could not hold the model: using the CPU reference engine",
					Detail: gpuErr.Error(), Next: "Classification works, more slowly. A browser or GPU with higher WebGPU limits runs it on the GPU."}
			})
		}
	}
	if err != nil {
		p.fail(ctx, &uiError{Kind: "model", Title: "Could not build the built-in model", Detail: err.Error(), Next: "Reload the page."})
	}
	if !opts.NoModel && len(opts.ERFModels) > 0 {
		s.kernels(ctx, engineRequest{Panel: len(opts.ERFModels) - 1}) // the kernel viewer's first view
	}
	report(ctx, func(p *page) {
		p.ready = true
		p.busy = false
		if p.err == nil {
			p.status = "Ready: drop, paste or choose a photo."
		}
	})
	for {
		req := s.next(ctx)
		switch req.Kind {
		case reqClassify:
			s.classify(ctx, req)
		case reqWeights:
			s.loadWeights(ctx, req)
		case reqBuiltin:
			if err := s.loadBuiltin(ctx); err != nil {
				p.fail(ctx, &uiError{Kind: "model", Title: "Could not build the built-in model", Detail: err.Error(), Next: "Reload the page."})
			}
			report(ctx, func(p *page) { p.busy = false })
		case reqRetry:
			s.retry(ctx)
		case reqDebugLoseDevice:
			if s.opts.Debug && s.simulateDeviceLoss() {
				// Acknowledged on the page, so the test drops its photo only after
				// the engine has taken the loss (requests queued behind tuning).
				report(ctx, func(p *page) { p.status = "Debug: the GPU device is marked lost." })
			}
		case reqERF:
			s.runERF(ctx, req)
		case reqKernels:
			s.kernels(ctx, req)
		case reqRemask:
			s.remask(ctx, req)
		case reqBench:
			s.runBench(ctx, req)
		}
		s.lastReq = time.Now()
	}
}

// tuneIdle is how long the engine waits after a request before the kernel tuner resumes: a
// person who drops several photos gets them classified back to back.
const tuneIdle = 1500 * time.Millisecond

// next returns the next request. While the loaded model has unfinished kernel tuning and no
// request waits, it runs the tuner (tuneStep), which stops as soon as a request arrives: tuning
// never holds a person's request for longer than one timed kernel run.
func (s *engineState) next(ctx app.Context) engineRequest {
	for s.tuneCur != nil {
		if wait := tuneIdle - time.Since(s.lastReq); wait > 0 {
			select {
			case req := <-engineRequests:
				return req
			case <-time.After(wait):
			}
			continue
		}
		select {
		case req := <-engineRequests:
			return req
		default:
			s.tuneStep(ctx)
		}
	}
	return <-engineRequests
}

// open picks the engine: WebGPU when an adapter and device are granted, the
// CPU reference otherwise, and reports the device chip (with the reason).
func (s *engineState) open(ctx app.Context) {
	report(ctx, func(p *page) { p.status = "Checking for WebGPU…" })
	b, info, err := newGPUBackend()
	if err == nil {
		s.backend, s.gpuInfo, s.engine = b, &info, engineGPU
		d := deviceInfo{Checked: true, WebGPU: true, Adapter: true, Software: info.Software, Engine: engineGPU,
			Name: joinNonEmpty(" · ", info.Vendor, info.Architecture, info.Name, info.Driver), Features: info.Features,
			Limits: fmt.Sprintf("storage binding %d MiB, buffer %d MiB, workgroup storage %d KiB",
				info.Limits.MaxStorageBufferBindingSize>>20, info.Limits.MaxBufferSize>>20, info.Limits.MaxComputeWorkgroupStorageSize>>10)}
		report(ctx, func(p *page) {
			p.device = d
			if d.Software {
				p.err = &uiError{Kind: "software-gpu", Title: "Software GPU: expect seconds per photo",
					Detail: "The browser gave WebGPU a software adapter (" + orDash(d.Name) + "); it is correct but runs on the CPU.",
					Next:   "Everything works; a browser with hardware WebGPU (recent Chrome, Edge, Safari 26, Firefox 141 on Windows) is much faster."}
			}
		})
		return
	}
	s.backend, s.gpuInfo, s.engine = yieldBackend{cpu.NewBackend()}, nil, engineCPU
	d := deviceInfo{Checked: true, Engine: engineCPU}
	var ue *uiError
	if isNoAdapter(err) && !hasNavigatorGPU() {
		ue = &uiError{Kind: "no-webgpu", Title: "This browser has no WebGPU: using the CPU reference engine",
			Detail: "navigator.gpu is missing. The same network runs in WebAssembly on the CPU instead: correct, but much slower (tens of seconds per photo).",
			Next:   "For the GPU path use a browser that ships WebGPU: Chrome or Edge 113+, Safari 26, or Firefox 141+ on Windows."}
	} else {
		d.WebGPU = true
		ue = &uiError{Kind: "no-adapter", Title: "WebGPU is present but no GPU adapter was granted: using the CPU reference engine",
			Detail: err.Error() + ". The GPU may be blocklisted or disabled; the CPU reference engine runs instead (slower).",
			Next:   "Check chrome://gpu (or your browser's equivalent), update the graphics driver, or enable WebGPU in the browser's settings."}
	}
	report(ctx, func(p *page) { p.device = d; p.err = ue })
}

func joinNonEmpty(sep string, parts ...string) string {
	out := ""
	for _, s := range parts {
		if s == "" {
			continue
		}
		if out != "" {
			out += sep
		}
		out += s
	}
	return out
}

// loadBuiltin builds the default model: seeded random weights, 40% sparse.
func (s *engineState) loadBuiltin(ctx app.Context) error {
	v, err := model.Lookup(s.opts.Builtin)
	if err != nil {
		return err
	}
	report(ctx, func(p *page) { p.status = "Generating the built-in " + v.Label + " (random weights)…" })
	t0 := time.Now()
	deploy, err := builtinWeights(v, s.opts.Seed)
	if err != nil {
		return err
	}
	label := modelState{Name: v.Name, Label: v.Label, Untrained: true,
		Source: fmt.Sprintf("built-in random weights (seed %d, 40%% sparse), %.1f s to build", s.opts.Seed, time.Since(t0).Seconds())}
	return s.install(ctx, v, deploy, label)
}

// install uploads deploy to the backend; the old model stays loaded until
// the new one is complete.
func (s *engineState) install(ctx app.Context, v model.Variant, deploy model.StateDict, label modelState) error {
	report(ctx, func(p *page) { p.status = "Uploading " + v.Label + " to the " + s.engine + " engine…" })
	net, err := model.Load(s.backend, v, deploy)
	if err != nil {
		return err
	}
	net.LogitsOnly = true // one readback per forward
	if s.net != nil {
		s.net.Free()
	}
	s.net, s.variant, s.deploy, s.label, s.warm, s.firstMs = net, v, deploy, label, false, 0
	if !label.Remasked {
		s.orig[v.Name], s.origLabel[v.Name] = deploy, label
		delete(s.masked, v.Name)
		delete(s.densities, v.Name)
		if s.sparsity != 0 {
			// New original weights: every model goes back to its original
			// weights, so that the classifier and the panels agree.
			s.sparsity, s.masked, s.densities = 0, map[string]model.StateDict{}, map[string][]kernelLayer{}
			report(ctx, func(p *page) { p.kv.Applied, p.kv.Sparsity = 0, 0 })
		}
	}
	report(ctx, func(p *page) {
		p.model = label
		if label.Untrained {
			p.modelID = "builtin"
		} else {
			p.modelID = v.Name
		}
		p.status = v.Label + " is loaded" + weightMemory(v, deploy, s.backend) + "."
	})
	s.tuneKernels(ctx, net)
	return nil
}

// tuneJob is the kernel tuner's work for one variant on one WebGPU backend: the
// configurations decided so far (kept across stops and model switches) and the tuning time
// spent (TuneBudget in all).
type tuneJob struct {
	g       *gpu.Backend
	variant string
	label   string
	layers  []gpu.TuneLayer // of the loaded net (its weights): set again by each install
	decided map[string]bool // configuration keys decided (gpu.TuneResult.Config)
	spent   float64         // seconds
	parts   int             // Tune calls (1 + the resumes after a stop)
	done    bool            // finished (or failed): nothing left to run
}

// tuneBudget bounds a variant's tuning time on one device, over all its resumed parts. Tuning
// runs only while no request waits, so it can take its time: with 20 s, SwiftShader decided 2 of
// SLaK-T's 13 configurations (engine/bench/results/swiftshader_chromium_2cpu_2026-11-28_run3.json:
// pipeline compiles and the subgroup check of one pointwise configuration take most of it).
const tuneBudget = 120 * time.Second

// tuneSamples is the kernel tuner's timed samples per candidate (after a warm-up each).
const tuneSamples = 2

// tuneKernels prepares the run-time kernel tuner (gpu.Backend.Tune) for the loaded net on a
// WebGPU backend, once per variant and device (a new device after a loss is tuned again); the CPU
// fallback has nothing to tune. Choices saved on an earlier visit (gpu.Backend.SaveTuned: same
// adapter, same kernels) are restored instead. The tuning itself runs in the engine loop while no
// request waits (next, tuneStep), so the page is ready at once.
func (s *engineState) tuneKernels(ctx app.Context, net *model.Net) {
	s.tuneCur = nil
	g, ok := s.backend.(*gpu.Backend)
	if !ok {
		return
	}
	key := fmt.Sprintf("%p %s", g, net.V.Name) // a new device (after a loss) is tuned again
	if s.tuned == nil {
		s.tuned = map[string]*tuneJob{}
	}
	j := s.tuned[key]
	if j == nil {
		j = &tuneJob{g: g, variant: net.V.Name, label: net.V.Label, decided: map[string]bool{}}
		s.tuned[key] = j
		if n := g.LoadTuned(net.V.Name); n > 0 { // tuned on an earlier visit (same adapter, same kernels)
			j.done = true
			report(ctx, func(p *page) {
				p.tune = tuneStatus{Line: fmt.Sprintf("Kernel choices for this GPU restored (%d layer configurations of %s).", n, j.label)}
			})
		}
	}
	if j.done {
		return
	}
	cs, err := net.Configs(224, 224)
	if err != nil {
		j.done = true
		return
	}
	j.layers = make([]gpu.TuneLayer, len(cs))
	for i, c := range cs {
		j.layers[i] = gpu.TuneLayer(c)
	}
	s.tuneCur = j
	report(ctx, func(p *page) {
		p.tune = tuneStatus{Running: true, Line: "Tuning kernels for this GPU in the background: requests go first."}
	})
}

// tuneStep runs the current tuning job until it finishes, fails, or a request arrives
// (gpu.TuneOptions.Stop: checked before every timed run). A stopped job keeps the choices made so
// far (in use at once) and resumes at the next idle moment without timing them again; only a
// finished job is saved (gpu.Backend.SaveTuned), so a partial run is never taken for a complete
// one on the next visit.
func (s *engineState) tuneStep(ctx app.Context) {
	j := s.tuneCur
	if j.g != s.backend || j.done { // the device was replaced (Retry): its job is gone
		s.tuneCur = nil
		return
	}
	left := tuneBudget - time.Duration(j.spent*float64(time.Second))
	if left <= 0 {
		left = time.Nanosecond // every configuration left keeps its static rule
	}
	j.parts++
	n0 := len(j.decided)
	rep, err := j.g.Tune(j.layers, gpu.TuneOptions{Samples: tuneSamples, Budget: left, Skip: j.decided,
		Stop: func() bool {
			if s.opts.TuneDelay > 0 {
				time.Sleep(s.opts.TuneDelay)
			}
			return len(engineRequests) > 0
		},
		Progress: func(done, total int, what string) {
			report(ctx, func(p *page) {
				p.tune = tuneStatus{Running: true, Done: n0 + done, Total: n0 + total, Stage: what,
					Line: fmt.Sprintf("Tuning kernels for this GPU in the background (%d of %d layer configurations): requests go first.", n0+done, n0+total)}
			})
			yield()
		}})
	if rep != nil {
		j.spent += rep.Seconds
		for _, r := range rep.Results {
			j.decided[r.Config] = true
		}
		app.Log(rep.String())
	}
	switch {
	case err != nil: // the static rules stay for what is left (a lost device fails the next request)
		j.done, s.tuneCur = true, nil
		report(ctx, func(p *page) {
			p.tune = tuneStatus{Line: "Kernel tuning stopped on an error; the static kernel choices stay for the rest: " + err.Error()}
		})
	case rep.Stopped:
		total := len(j.decided) + rep.Left
		report(ctx, func(p *page) {
			p.tune = tuneStatus{Running: true, Paused: true, Done: len(j.decided), Total: total,
				Line: fmt.Sprintf("Kernel tuning paused for your request (%d of %d layer configurations done); it resumes when the engine is idle.", len(j.decided), total)}
		})
	default:
		j.done, s.tuneCur = true, nil
		j.g.SaveTuned(j.variant)
		report(ctx, func(p *page) {
			p.tune = tuneStatus{Line: fmt.Sprintf("Kernels tuned for this GPU in %.1f s (%d layer configurations of %s, in %d part(s)).",
				j.spent, len(j.decided), j.label, j.parts)}
		})
	}
}

// weightMemory says what the weights take on the backend: an F16 file's GEMM
// weights stay half (2 bytes a value) on a backend with op.HalfUploader (the
// GPU; engine/model/half.go).
func weightMemory(v model.Variant, deploy model.StateDict, b op.Backend) string {
	_, half := b.(op.HalfUploader)
	f32b, hb := model.WeightBytes(v, deploy, half)
	if hb == 0 {
		return fmt.Sprintf(" (weights %.1f MB)", float64(f32b)/1e6)
	}
	return fmt.Sprintf(" (weights %.1f MB, %.1f MB of them f16)", float64(f32b+hb)/1e6, float64(hb)/1e6)
}

// classify runs preprocessing and the forward pass on one decoded image.
func (s *engineState) classify(ctx app.Context, req engineRequest) {
	img := req.Image
	if s.net == nil {
		report(ctx, func(p *page) {
			p.err = &uiError{Kind: "model", Title: "No model is loaded", Detail: "The model failed to load earlier.", Next: "Pick a model, or reload the page."}
		})
		return
	}
	report(ctx, func(p *page) {
		p.busy = true
		p.status = "Classifying " + req.Name + " with " + s.variant.Label + "…"
	})
	t0 := time.Now()
	t, x, crop, err := s.preprocess(img)
	if err != nil {
		s.fail(ctx, "preprocess", err)
		return
	}
	tPre := time.Now()
	out, err := s.net.ForwardTensor(t)
	s.backend.Free(t)
	if err != nil {
		s.fail(ctx, "forward", err)
		return
	}
	tFwd := time.Now()
	readback := s.readbackProbe(len(out.Logits))
	probs := softmax(out.Logits)
	ranked := make([]classProb, len(probs))
	for i, pr := range probs {
		ranked[i] = classProb{Index: i, Name: className(i), P: pr}
	}
	sort.SliceStable(ranked, func(a, b int) bool { return ranked[a].P > ranked[b].P })
	r := &result{Name: req.Name, Src: img.Src, W: img.W, H: img.H, Crop: cropFractions(crop, img.W, img.H), Probs: ranked,
		Model: s.variant.Label, Engine: s.engine, Untrain: s.label.Untrained, cropRGBA: denormalize(x),
		Timing: timing{Decode: req.DecodeMs, Preprocess: ms2(t0, tPre), Forward: ms2(tPre, tFwd), Readback: readback,
			Total: req.DecodeMs + ms2(t0, time.Now()), First: !s.warm, FirstTotal: s.firstMs}}
	if !s.warm {
		s.firstMs = r.Timing.Total
	}
	// The GPU backend submits lazily: the forward time includes the one
	// readback of the logits; readback is that round trip measured alone.
	s.warm = true
	s.photos = append([]namedImage{{Name: req.Name, Img: img}}, s.photos...)
	if len(s.photos) > 12 {
		s.photos = s.photos[:12]
	}
	report(ctx, func(p *page) {
		p.nextID++
		r.ID = p.nextID
		if p.current != nil {
			p.history = append([]*result{p.current}, p.history...)
			if len(p.history) > 12 {
				p.history = p.history[:12]
			}
		}
		p.current, p.showAll, p.busy = r, false, false
		p.status = fmt.Sprintf("%s: %s (%.1f%%) in %s.", r.Name, r.Probs[0].Name, 100*r.Probs[0].P, ms(r.Timing.Total))
		p.drawCrop(ctx, r)
	})
}

func ms2(a, b time.Time) float64 { return float64(b.Sub(a).Microseconds()) / 1000 }

func className(i int) string {
	if i >= 0 && i < len(imagenet.Names) {
		return imagenet.Names[i]
	}
	return fmt.Sprintf("class %d", i)
}

// softmax in float64: p[i] = exp(l[i] − max l) / Σ_j exp(l[j] − max l).
func softmax(logits []float32) []float32 {
	m := math.Inf(-1)
	for _, v := range logits {
		m = math.Max(m, float64(v))
	}
	sum := 0.0
	e := make([]float64, len(logits))
	for i, v := range logits {
		e[i] = math.Exp(float64(v) - m)
		sum += e[i]
	}
	p := make([]float32, len(logits))
	for i := range e {
		p[i] = float32(e[i] / sum)
	}
	return p
}

// denormalize turns the model input [3,224,224] back into RGBA pixels to
// show the person what the model sees.
func denormalize(x []float32) []byte {
	const n = 224 * 224
	out := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		for c := 0; c < 3; c++ {
			v := (x[c*n+i]*imgprep.Std[c] + imgprep.Mean[c]) * 255
			out[4*i+c] = byte(math.Max(0, math.Min(255, math.Round(float64(v)))))
		}
		out[4*i+3] = 255
	}
	return out
}

// readbackProbe times the download of an n-float tensor already on the
// device: the cost of reading the logits back, measured on its own.
func (s *engineState) readbackProbe(n int) float64 {
	t, err := s.backend.Upload(make([]float32, n), n)
	if err != nil {
		return 0
	}
	defer s.backend.Free(t)
	if f, ok := s.backend.(interface{ Flush() error }); ok {
		f.Flush()
	}
	t0 := time.Now()
	if _, err := s.backend.Download(t); err != nil {
		return 0
	}
	return ms2(t0, time.Now())
}

// fail reports an engine error; a lost device offers Retry.
func (s *engineState) fail(ctx app.Context, stage string, err error) {
	if isDeviceLost(err) {
		report(ctx, func(p *page) {
			p.busy = false
			p.device.Lost = true
			p.err = &uiError{Kind: "device-lost", Title: "The GPU device was lost", Retry: true,
				Detail: err.Error() + ". This happens after a driver reset, when the GPU runs out of memory, or when the tab was in the background for long.",
				Next:   "Press Retry: a new device is created and the current model reloaded (nothing else is lost)."}
		})
		return
	}
	onGPU := s.engine == engineGPU
	report(ctx, func(p *page) {
		p.busy = false
		p.err = &uiError{Kind: "engine", Title: "The " + stage + " step failed", Detail: err.Error(), Retry: onGPU,
			Next: "Try again or pick another photo; if it persists, press Retry (a new GPU device) or reload the page."}
		if !onGPU {
			p.err.Next = "Try again or pick another photo; if it persists, reload the page."
		}
	})
}

// retry recreates the device and reloads the current model.
func (s *engineState) retry(ctx app.Context) {
	if s.net != nil {
		s.net.Free()
		s.net = nil
	}
	s.open(ctx)
	report(ctx, func(p *page) { p.device.Lost = false })
	if err := s.install(ctx, s.variant, s.deploy, s.label); err != nil {
		s.fail(ctx, "reload", err)
	}
	report(ctx, func(p *page) { p.busy = false })
}

// loadWeights validates and loads a converted .safetensors or an official
// .pth (converted here). On any error the current model stays loaded.
func (s *engineState) loadWeights(ctx app.Context, req engineRequest) {
	n := int64(len(req.Data))
	if req.Src != nil {
		n = req.Src.Size()
	}
	report(ctx, func(p *page) {
		p.busy = true
		p.load = &loadProgress{Label: "Loading " + req.Name, Stage: "checking", Loaded: 0, Total: n}
	})
	v, deploy, err := parseWeights(ctx, req)
	if err == nil {
		src := req.Name
		if req.FromDevice {
			src = req.Name + ", from this device"
		}
		err = s.install(ctx, v, deploy, modelState{Name: v.Name, Label: v.Label, Source: src})
	}
	if err != nil {
		report(ctx, func(p *page) {
			p.busy, p.load = false, nil
			cur := "The built-in model"
			if p.model.Label != "" {
				cur = p.model.Label
			}
			p.err = &uiError{Kind: "weights", Title: req.Name + " could not be loaded", Detail: err.Error(),
				Next: cur + " is still loaded. Check that the file is a complete converted checkpoint (make weights) or an official .pth of a listed model."}
		})
		return
	}
	if req.CacheKey != "" {
		cacheWeights(ctx, req.CacheKey, req.Data)
	}
	report(ctx, func(p *page) { p.busy, p.load = false, nil })
	refreshCache(ctx)
}

// ---- engine glue: device, weights, preprocessing ----

type gpuInfoT = gpu.Info

func newGPUBackend() (_ op.Backend, _ gpuInfoT, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("opening the WebGPU device panicked: %v", r)
		}
	}()
	b, err := gpu.New()
	if err != nil {
		return nil, gpu.Info{}, err
	}
	return b, b.Info(), nil
}

// simulateDeviceLoss is the ?debug=1 hook used by the browser test: the GPU
// backend reports ErrDeviceLost from then on, as after a real loss.
func (s *engineState) simulateDeviceLoss() bool {
	if g, ok := s.backend.(*gpu.Backend); ok {
		g.SimulateDeviceLoss("simulated by the test hook")
		return true
	}
	return false
}

func isDeviceLost(err error) bool { return errors.Is(err, gpu.ErrDeviceLost) }
func isNoAdapter(err error) bool  { return errors.Is(err, gpu.ErrNoAdapter) }

func hasNavigatorGPU() bool {
	return js.Global().Get("navigator").Get("gpu").Truthy()
}

// builtinWeights are the built-in default: seeded random deploy weights with
// SLaK's 40% unstructured sparsity (model.RandomWeights), the GEMM weights
// rounded to binary16 and kept half as they are drawn (convert.HalfParam; the
// same values as convert.HalfWeights), as an F16 model file loads: on the GPU
// they take 2 bytes a value (SLaK-T 108 MB instead of 203 MB), and in the
// wasm heap too (natively measured: 103 MB live instead of 193 MB, heap
// reserved 187 MB instead of 199 MB).
func builtinWeights(v model.Variant, seed uint64) (model.StateDict, error) {
	return model.RandomWeightsEach(v, seed, builtinSparsity, nil, convert.HalfParam)
}

// preprocess runs the eval transform of the loaded variant: on the GPU
// (engine/gpu's launcher, bit-identical to engine/imgprep) when the engine is
// WebGPU, with engine/imgprep otherwise. It returns the input tensor (owned
// by the caller), its values for display, and the crop.
func (s *engineState) preprocess(img *rgbaImage) (op.Tensor, []float32, imgprep.Crop, error) {
	if g, ok := s.backend.(*gpu.Backend); ok {
		t, crop, err := g.Preprocess(img.Pix, img.W, img.H, imgprep.Eval)
		if err != nil {
			return nil, nil, crop, err
		}
		x, err := g.Download(t)
		if err != nil {
			g.Free(t)
			return nil, nil, crop, err
		}
		return t, x, crop, nil
	}
	x, crop, err := preprocessRGBA(img.Pix, img.W, img.H)
	if err != nil {
		return nil, nil, crop, err
	}
	t, err := s.backend.Upload(x, 3, 224, 224)
	return t, x, crop, err
}

// parseWeights reads a dropped or downloaded weight file: a converted
// slak-web .safetensors (validated completely by weights/convert: format,
// variant, checksum, every key and shape) or an official .pth, converted here
// for req.Variant, or for the first listed variant whose layout it matches.
func parseWeights(ctx app.Context, req engineRequest) (model.Variant, model.StateDict, error) {
	progress := func(stage string) func(done, total int64) {
		last := int64(-1)
		return func(done, total int64) {
			if total <= 0 || (done-last)*20 < total && done != total {
				return
			}
			last = done
			report(ctx, func(p *page) {
				p.load = &loadProgress{Label: "Loading " + req.Name, Stage: stage, Loaded: done, Total: total}
			})
		}
	}
	var src io.ReaderAt = bytes.NewReader(req.Data)
	size := int64(len(req.Data))
	if req.Src != nil {
		src, size = req.Src, req.Src.Size()
	}
	switch req.FileKind {
	case kindSafetensors:
		f, err := weights.ReadSafetensorsProgress(src, size, progress("reading"))
		if err != nil {
			return model.Variant{}, nil, err
		}
		if req.Variant != "" {
			return convert.LoadModelFileAs(f, req.Variant)
		}
		return convert.LoadModelFile(f)
	case kindPyTorchZip:
		// The source checksum recorded in the converted file, streamed: the
		// checkpoint is never held whole (it may carry optimizer state).
		h := sha256.New()
		if _, err := io.Copy(h, &progressReader{r: io.NewSectionReader(src, 0, size), total: size, fn: progress("checksumming")}); err != nil {
			return model.Variant{}, nil, err
		}
		sum := h.Sum(nil)
		ck, err := weights.ReadPTH(src, size)
		if err != nil {
			return model.Variant{}, nil, err
		}
		// The picked variant first, then every released model, then the tiny
		// test configurations.
		tries := []string{}
		if req.Variant != "" {
			tries = append(tries, req.Variant)
		}
		for _, test := range []bool{false, true} {
			for _, v := range model.Variants() {
				if v.Test == test && v.Name != req.Variant {
					tries = append(tries, v.Name)
				}
			}
		}
		var first error
		for _, name := range tries {
			f, err := convert.ConvertCheckpoint(ck, hex.EncodeToString(sum), convert.Options{
				Variant: name, DType: "f32", SourceFile: req.Name, Progress: progress("converting to " + name)})
			if err == nil {
				return convert.LoadModelFile(f)
			}
			if first == nil {
				first = err
			}
		}
		return model.Variant{}, nil, fmt.Errorf("the checkpoint matches none of the listed models; for %s: %w", tries[0], first)
	}
	return model.Variant{}, nil, fmt.Errorf("%s is not a weight format this page reads", req.FileKind)
}

// ---- receptive field, kernel viewer, sparsity, benchmark ----

// erfLabel names a panel's variant with its kernel size.
func erfLabel(v model.Variant) string {
	if strings.Contains(v.Label, "×") { // "SLaK-T (51×51)"
		return v.Label
	}
	return fmt.Sprintf("%s (%d×%d)", v.Label, v.Kernels[0], v.Kernels[0])
}

// reportERFModels tells the page which variants the panels show.
func (s *engineState) reportERFModels(ctx app.Context) {
	var labels []string
	for _, name := range s.opts.ERFModels {
		if v, err := model.Lookup(name); err == nil {
			labels = append(labels, erfLabel(v))
		} else {
			labels = append(labels, name+" (unknown variant)")
		}
	}
	report(ctx, func(p *page) {
		p.erf.Models = labels
		p.kv.Panel = len(labels) - 1 // the 51×51 model: built in, already generated
	})
}

// deployFor returns the weights a panel uses: a checkpoint the person loaded
// for that variant, else the built-in seeded random weights (generated once),
// re-masked when the sparsity control says so.
func (s *engineState) deployFor(ctx app.Context, name string) (model.Variant, model.StateDict, modelState, error) {
	v, err := model.Lookup(name)
	if err != nil {
		return v, nil, modelState{}, err
	}
	d, ok := s.orig[name]
	if !ok {
		report(ctx, func(p *page) { p.erf.Stage = "Generating the built-in " + v.Label + " (random weights)…" })
		if d, err = builtinWeights(v, s.opts.Seed); err != nil {
			return v, nil, modelState{}, err
		}
		s.orig[name] = d
		s.origLabel[name] = modelState{Name: v.Name, Label: v.Label, Untrained: true,
			Source: fmt.Sprintf("built-in random weights (seed %d, 40%% sparse)", s.opts.Seed)}
	}
	label := s.origLabel[name]
	if s.sparsity == 0 {
		return v, d, label, nil
	}
	m, ok := s.masked[name]
	if !ok {
		if m, err = erf.Remask(d, v, float64(s.sparsity)/100); err != nil {
			return v, nil, label, err
		}
		s.masked[name] = m
	}
	label.Remasked = true
	label.Source += fmt.Sprintf(", re-masked to %d%% zeros", s.sparsity)
	return v, m, label, nil
}

// erfLimits are the limits the ERF memory check uses.
func (s *engineState) erfLimits() (erf.Limits, bool) {
	if s.opts.ERFLimitMiB > 0 {
		l := uint64(s.opts.ERFLimitMiB) << 20
		return erf.Limits{MaxStorageBufferBindingSize: l, MaxBufferSize: l}, true
	}
	return erf.LimitsOf(s.backend)
}

// erfInput warps a photo to s×s (bicubic, no crop: RepLKNet's
// Resize((s, s))) and normalises it, on the GPU when the engine is WebGPU.
func (s *engineState) erfInput(img *rgbaImage, size int) ([]float32, error) {
	if g, ok := s.backend.(*gpu.Backend); ok {
		t, _, err := g.Preprocess(img.Pix, img.W, img.H, imgprep.WarpTo(size))
		if err != nil {
			return nil, err
		}
		defer g.Free(t)
		return g.Download(t)
	}
	x, _, err := imgprep.Preprocess(img.Pix, img.W, img.H, imgprep.WarpTo(size))
	return x, err
}

// ERF runs can be cancelled from the UI goroutine.
var (
	erfCancelMu sync.Mutex
	erfCancelFn context.CancelFunc
)

func cancelERF() {
	erfCancelMu.Lock()
	defer erfCancelMu.Unlock()
	if erfCancelFn != nil {
		erfCancelFn()
	}
}

func (s *engineState) erfFail(ctx app.Context, e *uiError) {
	report(ctx, func(p *page) {
		p.erf.Running, p.erf.RunsDone = false, p.erf.Runs
		p.erf.Err = e
	})
}

// runERF computes the three panels one model at a time (each net is freed
// before the next loads), after checking the memory of every one.
func (s *engineState) runERF(ctx app.Context, req engineRequest) {
	size, mode := req.Size, req.ERFMode
	var photos []namedImage
	if mode != erfKernel {
		n := 1
		if mode == erfAvg {
			n = max(1, req.N)
		}
		photos = s.photos[:min(n, len(s.photos))]
		if len(photos) == 0 {
			s.erfFail(ctx, &uiError{Kind: "erf-no-photo", Title: "No photo yet",
				Detail: "The live and averaged ERFs are computed on the photos you classified.", Next: "Classify a photo first, or use the kernel-only mode."})
			return
		}
		if lim, ok := s.erfLimits(); ok {
			for _, name := range s.opts.ERFModels {
				v, err := model.Lookup(name)
				if err != nil {
					s.erfFail(ctx, &uiError{Kind: "erf", Title: "Unknown ERF model", Detail: err.Error()})
					return
				}
				m, err := erf.Estimate(v, size)
				if err == nil {
					err = m.Check(lim)
				}
				if err != nil {
					s.erfFail(ctx, &uiError{Kind: "erf-memory", Title: fmt.Sprintf("%d×%d is too large for this device", size, size),
						Detail: err.Error() + ". Estimate: " + m.String() + ".",
						Next:   "Pick a smaller input size, or the kernel-only mode (no GPU memory needed)."})
					return
				}
			}
		}
	}
	cctx, cancel := context.WithCancel(context.Background())
	erfCancelMu.Lock()
	erfCancelFn = cancel
	erfCancelMu.Unlock()
	defer func() {
		erfCancelMu.Lock()
		erfCancelFn = nil
		erfCancelMu.Unlock()
		cancel()
	}()
	per := max(1, len(photos))
	total := per * len(s.opts.ERFModels)
	src, name := "", ""
	if len(photos) > 0 {
		src, name = photos[0].Img.Src, photos[0].Name
	}
	report(ctx, func(p *page) {
		p.erf.Running, p.erf.Err, p.erf.Panels, p.erf.ModeRun = true, nil, nil, mode
		p.erf.Done, p.erf.Tot, p.erf.ImgSrc, p.erf.ImgName, p.erf.Hover = 0, total, src, name, ""
	})
	for i, vname := range s.opts.ERFModels {
		v, deploy, label, err := s.deployFor(ctx, vname)
		if err != nil {
			s.erfFail(ctx, &uiError{Kind: "erf", Title: "Could not prepare " + vname, Detail: err.Error()})
			return
		}
		rf, _ := erf.VariantRF(v)
		pn := &erfPanel{Variant: v.Name, Label: erfLabel(v), Untrained: label.Untrained, Source: label.Source, S: size, RF: rf}
		report(ctx, func(p *page) {
			p.erf.Stage = fmt.Sprintf("%s: %s at %d²…", pn.Label, map[string]string{erfKernel: "kernel-only view", erfLive: "input gradient", erfAvg: "input gradients"}[mode], size)
		})
		yield()
		t0 := time.Now()
		var m erf.Map
		if mode == erfKernel {
			m, err = erf.KernelOnly(v, deploy, size)
		} else {
			m, err = s.erfOnNet(cctx, ctx, v, deploy, size, photos, i*per)
		}
		if errors.Is(err, context.Canceled) {
			report(ctx, func(p *page) {
				p.erf.Running, p.erf.RunsDone = false, p.erf.Runs
				p.erf.Err = &uiError{Kind: "erf-cancelled", Title: "Cancelled", Detail: fmt.Sprintf("Stopped during %s; the panels finished before are shown.", pn.Label)}
			})
			return
		}
		pn.Ms = ms2(t0, time.Now())
		if err != nil {
			if isDeviceLost(err) {
				s.fail(ctx, "receptive field", err)
				report(ctx, func(p *page) { p.erf.Running, p.erf.RunsDone = false, p.erf.Runs })
				return
			}
			pn.Err = err.Error()
		} else {
			pn.Images = m.Images
			pn.Log, pn.Lin = erf.Normalize(m.Data, erf.Log), erf.Normalize(m.Data, erf.Linear)
			rs, err := erf.AreaRatios(pn.Log, m.H, m.W, erf.Thresholds)
			if err != nil {
				pn.Err = err.Error()
			}
			for _, r := range rs {
				pn.Ratios = append(pn.Ratios, ratioT{T: r.T, Found: r.Found, Side: r.Side, R: r.R})
			}
		}
		report(ctx, func(p *page) {
			p.erf.Panels = append(p.erf.Panels, pn)
			p.erf.Done = (i + 1) * per
			p.paintERF(ctx)
		})
		yield()
	}
	report(ctx, func(p *page) { p.erf.Running, p.erf.Stage, p.erf.RunsDone = false, "", p.erf.Runs })
}

// erfOnNet computes the (averaged) ERF of v on the engine's backend; the
// classifier's net is reused when it holds the same weights.
func (s *engineState) erfOnNet(cctx context.Context, ctx app.Context, v model.Variant, deploy model.StateDict, size int, photos []namedImage, done0 int) (erf.Map, error) {
	net := s.net
	if net == nil || s.variant.Name != v.Name || reflect.ValueOf(s.deploy).Pointer() != reflect.ValueOf(deploy).Pointer() {
		var err error
		if net, err = model.Load(s.backend, v, deploy); err != nil {
			return erf.Map{}, err
		}
		defer net.Free()
	}
	return erf.Averaged(cctx, net, size, len(photos), func(i int) ([]float32, error) {
		return s.erfInput(photos[i].Img, size)
	}, func(done, n int) {
		report(ctx, func(p *page) { p.erf.Done = done0 + done })
	})
}

// kernels reports the kernel-viewer data of one layer and channel.
func (s *engineState) kernels(ctx app.Context, req engineRequest) {
	kerr := func(err error) {
		report(ctx, func(p *page) { p.kv.Busy, p.kv.Err = false, err.Error() })
	}
	if req.Panel < 0 || req.Panel >= len(s.opts.ERFModels) {
		kerr(fmt.Errorf("no panel %d", req.Panel))
		return
	}
	v, deploy, label, err := s.deployFor(ctx, s.opts.ERFModels[req.Panel])
	if err != nil {
		kerr(err)
		return
	}
	lks := erf.LKLayers(v)
	layers, ok := s.densities[v.Name]
	if !ok {
		for _, l := range lks {
			_, _, _, _, d, err := erf.Kernels(deploy, v, l.Index, 0)
			if err != nil {
				kerr(err)
				return
			}
			layers = append(layers, kernelLayer{Name: fmt.Sprintf("stage %d · block %d", l.Stage, l.Block), K: l.K, N: l.N, C: l.C, Density: d})
		}
		s.densities[v.Name] = layers
	}
	li := max(0, min(req.Layer, len(lks)-1))
	l := lks[li]
	ch := max(0, min(req.Chan, l.C-1))
	tall, wide, small, merged, d, err := erf.Kernels(deploy, v, li, ch)
	if err != nil {
		kerr(err)
		return
	}
	n := l.N
	if small == nil && tall == nil {
		n = 0
	}
	if v.Family == model.RepLKNet {
		tall, wide = nil, nil
	}
	name := erfLabel(v)
	if label.Untrained {
		name += ", untrained"
	}
	report(ctx, func(p *page) {
		k := &p.kv
		k.Busy, k.Err, k.Layers, k.Layer, k.Channel = false, "", layers, li, ch
		k.K, k.N, k.C, k.Tall, k.Wide, k.Small, k.Merged, k.Density, k.ModelName = l.K, n, l.C, tall, wide, small, merged, d, name
		p.paintKernels(ctx)
	})
}

// remask applies the sparsity control: the panels' weights and the
// classifier are re-masked from the original weights (0 % restores them).
func (s *engineState) remask(ctx app.Context, req engineRequest) {
	sp := max(0, min(90, req.Sparsity))
	report(ctx, func(p *page) {
		p.kv.Busy, p.status = true, fmt.Sprintf("Re-masking the depthwise kernels to %d%%…", sp)
	})
	s.sparsity = sp
	s.masked = map[string]model.StateDict{}
	s.densities = map[string][]kernelLayer{}
	if orig, ok := s.orig[s.variant.Name]; ok && s.net != nil {
		v, d, label, err := s.deployFor(ctx, s.variant.Name)
		// The loaded net re-masks its own large-kernel weights in place (on the
		// GPU when the engine is WebGPU: nothing is re-uploaded) when it was
		// loaded from the original weights, which RemaskLK keeps; a net loaded
		// from re-masked weights (a reload after a device loss) is rebuilt.
		fromOrig := s.net.RemaskSparsity() > 0 || reflect.ValueOf(s.deploy).Pointer() == reflect.ValueOf(orig).Pointer()
		switch {
		case err != nil:
		case fromOrig:
			if err = s.net.RemaskLK(float64(sp) / 100); err == nil {
				// d is what the net now holds: the ERF panels reuse the net
				// for it, and a reload after a device loss uploads it.
				s.deploy, s.label = d, label
				report(ctx, func(p *page) { p.model, p.status = label, v.Label+" is loaded." })
			}
		default:
			err = s.install(ctx, v, d, label)
		}
		if err != nil {
			report(ctx, func(p *page) { p.kv.Busy, p.kv.Err = false, "re-masking the classifier: "+err.Error() })
			return
		}
	}
	report(ctx, func(p *page) { p.kv.Applied = sp })
	s.kernels(ctx, req)
}

// runBench runs engine/bench's rows on the page's WebGPU device.
func (s *engineState) runBench(ctx app.Context, req engineRequest) {
	g, ok := s.backend.(*gpu.Backend)
	if !ok {
		report(ctx, func(p *page) {
			p.bench.Running, p.bench.Err = false, "The benchmark measures the WebGPU kernels; this page runs the CPU reference engine (no WebGPU device)."
		})
		return
	}
	report(ctx, func(p *page) {
		p.bench.Running, p.bench.Err, p.bench.Lines, p.bench.Rows, p.bench.JSON, p.bench.Copied = true, "", nil, nil, "", ""
	})
	nav := js.Global().Get("navigator")
	m := bench.Machine{NProc: nav.Get("hardwareConcurrency").Int(), OS: nav.Get("userAgent").String(), Note: "in-browser (WebGPU, " + s.engine + ")"}
	// With BenchTune the rows run with the choices the app's tuner makes for SLaK-T (as after
	// loading it: tuneKernels), without it on the static rules: each run starts from these.
	g.ClearTuning()
	cfg := bench.Config{Reps: max(1, req.BenchReps), Filter: req.BenchFilter, Forwards: req.BenchForwards, Log: func(line string) {
		report(ctx, func(p *page) { p.bench.Lines = append(p.bench.Lines, line) })
		yield() // let the page render between rows
	}}
	if req.BenchTune {
		cfg.Tune, cfg.TuneSamples, cfg.TuneBudget = "slak_t", tuneSamples, tuneBudget // as tuneStep
	}
	g.WaitOnFlush = true // time the GPU work, not only the submit (engine/gpu)
	rep, err := bench.Run(g, cfg, m)
	g.WaitOnFlush = false
	if err != nil {
		report(ctx, func(p *page) { p.bench.Running, p.bench.Err = false, err.Error() })
		return
	}
	raw, _ := json.MarshalIndent(rep, "", "  ")
	rows := make([]benchRow, len(rep.Rows))
	for i, r := range rep.Rows {
		rows[i] = benchRow{Name: r.Name, Kind: r.Kind, Shape: r.Shape, MedianMs: r.MedianMs, MinMs: r.MinMs, GFLOPs: r.GFLOPs,
			PctPeak: r.PctPeak, DirectMedianMs: r.DirectMedianMs, Speedup: r.Speedup, NoSkipMedianMs: r.NoSkipMedianMs, SparseGain: r.SparseSpeedup, Note: r.Note, Kernel: r.Kernel}
	}
	report(ctx, func(p *page) {
		b := &p.bench
		b.Running, b.Rows, b.Peak, b.Adapter, b.AdapterInfo, b.JSON, b.Seconds = false, rows, rep.PeakGFLOPs, rep.Adapter, rep.AdapterInfo, string(raw), rep.Seconds
	})
}
