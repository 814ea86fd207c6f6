//go:build wasm

package main

// engine.go is the only file of the app that talks to the engine. The engine
// runs in ONE goroutine (runEngine, started with ctx.Async) fed by
// engineRequests and reporting with ctx.Dispatch: WebGPU's async calls block
// the calling goroutine (ENGINE.md trap 6), and Go wasm is one thread, so the
// CPU fallback yields between ops (yieldBackend, trap 7).

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"syscall/js"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
	"github.com/slak-web/slak/engine/cpu"
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
	// weights
	Data       []byte
	FileKind   fileKind
	Variant    string // expected variant ("" = infer from the file)
	FromDevice bool   // read from the IndexedDB cache
	CacheKey   string // store in the cache under this key once it loaded
}

// engineRequests feeds the engine goroutine; the UI never blocks on it
// (senders run in ctx.Async goroutines).
var engineRequests = make(chan engineRequest, 16)

type engineOptions struct {
	Builtin string // variant of the built-in random model ("slak_t"; tests may pick "slak_tiny")
	Seed    uint64
	Debug   bool
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
}

func runEngine(ctx app.Context, p *page, opts engineOptions) {
	s := &engineState{opts: opts}
	s.open(ctx)
	err := s.loadBuiltin(ctx)
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
	report(ctx, func(p *page) {
		p.ready = true
		p.busy = false
		if p.err == nil {
			p.status = "Ready: drop, paste or choose a photo."
		}
	})
	for req := range engineRequests {
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
			if s.opts.Debug {
				s.simulateDeviceLoss()
			}
		}
	}
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
	report(ctx, func(p *page) {
		p.model = label
		if label.Untrained {
			p.modelID = "builtin"
		} else {
			p.modelID = v.Name
		}
		p.status = v.Label + " is loaded."
	})
	return nil
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
	report(ctx, func(p *page) {
		p.busy = true
		p.load = &loadProgress{Label: "Loading " + req.Name, Stage: "checking", Loaded: int64(len(req.Data)), Total: int64(len(req.Data))}
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
// SLaK's 40% unstructured sparsity (model.RandomWeights).
func builtinWeights(v model.Variant, seed uint64) (model.StateDict, error) {
	return model.RandomWeights(v, seed, builtinSparsity)
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
	switch req.FileKind {
	case kindSafetensors:
		f, err := weights.ReadSafetensorsProgress(bytes.NewReader(req.Data), int64(len(req.Data)), progress("reading"))
		if err != nil {
			return model.Variant{}, nil, err
		}
		if req.Variant != "" {
			return convert.LoadModelFileAs(f, req.Variant)
		}
		return convert.LoadModelFile(f)
	case kindPyTorchZip:
		sum := sha256.Sum256(req.Data)
		ck, err := weights.ReadPTH(bytes.NewReader(req.Data), int64(len(req.Data)))
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
			f, err := convert.ConvertCheckpoint(ck, hex.EncodeToString(sum[:]), convert.Options{
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
