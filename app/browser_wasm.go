//go:build wasm

package main

// The page's JavaScript interop (web/slak.js holds the JS half): files from
// drop, paste, the picker and the sample gallery; header checks before any
// decoding; decoding in the browser; the weight cache. The engine itself is
// reached only through engine.go's request channel.

import (
	"errors"
	"fmt"
	"strings"
	"syscall/js"
	"time"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// await blocks the calling goroutine (never a js.FuncOf callback, ENGINE.md
// trap 6) until the promise settles.
func await(p js.Value) (js.Value, error) {
	type settled struct {
		v   js.Value
		err error
	}
	ch := make(chan settled, 1)
	then := js.FuncOf(func(this js.Value, args []js.Value) any {
		ch <- settled{v: arg0(args)}
		return nil
	})
	catch := js.FuncOf(func(this js.Value, args []js.Value) any {
		e := arg0(args)
		msg := "unknown error"
		if e.Truthy() {
			if m := e.Get("message"); m.Type() == js.TypeString {
				msg = m.String()
			} else {
				msg = e.Call("toString").String()
			}
		}
		ch <- settled{err: errors.New(msg)}
		return nil
	})
	defer then.Release()
	defer catch.Release()
	p.Call("then", then).Call("catch", catch)
	s := <-ch
	return s.v, s.err
}

func arg0(args []js.Value) js.Value {
	if len(args) == 0 {
		return js.Undefined()
	}
	return args[0]
}

func bytesFromJS(u8 js.Value) []byte {
	b := make([]byte, u8.Get("byteLength").Int())
	js.CopyBytesToGo(b, u8)
	return b
}

func bytesToJS(b []byte) js.Value {
	u8 := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u8, b)
	return u8
}

// start wires the page: the file callback for slak.js, the engine goroutine,
// and the weight-cache listing.
func (p *page) start(ctx app.Context) {
	thePage, pageCtx = p, ctx
	if engineStarted {
		// An in-app navigation mounted a new page: it takes over the reports
		// of the one engine goroutine.
		p.ready = true
		return
	}
	engineStarted = true
	files := make(chan js.Value, 16)
	cb := js.FuncOf(func(this js.Value, args []js.Value) any {
		if len(args) == 0 {
			return nil
		}
		list := args[0]
		for i := 0; i < list.Length(); i++ {
			select {
			case files <- list.Index(i):
			default: // more than 16 queued: ignore the rest
			}
		}
		return nil
	})
	js.Global().Set("slakOnFiles", cb)
	// Files are handled one at a time, in order, off the UI goroutine.
	ctx.Async(func() {
		for f := range files {
			p.handleFile(ctx, f)
		}
	})
	opts := engineOptions{Builtin: "slak_t", Seed: builtinSeed}
	if q := app.Window().URL().Query(); q.Get("builtin") != "" {
		opts.Builtin = q.Get("builtin") // tests only: a smaller built-in variant
	}
	erfOptions(app.Window().URL().Query(), &opts)
	opts.NoModel = p.view == viewBench
	if app.Window().URL().Query().Get("debug") == "1" {
		opts.Debug = true
		var ms int
		if _, err := fmt.Sscan(app.Window().URL().Query().Get("tunedelay"), &ms); err == nil && ms > 0 {
			opts.TuneDelay = time.Duration(ms) * time.Millisecond // tests only: a slow kernel tuner
		}
	}
	if app.Window().URL().Query().Get("testmodels") == "1" && choiceByID("slak_tiny").ID != "slak_tiny" {
		// tests only: a downloadable tiny model to exercise fetch, cache and delete
		modelChoices = append(modelChoices, modelChoice{ID: "slak_tiny", Label: "SLaK tiny test config", Kernel: "13×13", SizeMB: 1.8})
	}
	if opts.Debug {
		js.Global().Set("slakDebugLoseDevice", js.FuncOf(func(this js.Value, args []js.Value) any {
			go func() { engineRequests <- engineRequest{Kind: reqDebugLoseDevice} }()
			return nil
		}))
	}
	ctx.Async(func() { runEngine(ctx, p, opts) })
	ctx.Async(func() { refreshCache(ctx) })
}

// The page and its own context, set once in start. Reports go through the
// page's context: a handler's ctx belongs to the element that fired the event
// (ctx.Src() is a button, not the page), and Dispatch is dropped once that
// element unmounts.
var (
	thePage       *page
	pageCtx       app.Context
	engineStarted bool
)

// report runs f on the UI goroutine and re-renders the page.
func report(_ app.Context, f func(p *page)) {
	pageCtx.Dispatch(func(app.Context) { f(thePage) })
}

func (p *page) fail(ctx app.Context, e *uiError) {
	report(ctx, func(p *page) {
		p.err = e
		p.status = e.Title
	})
}

// blobFetch reads n bytes at off of a File/Blob (blocks: never call it from a
// js.FuncOf callback).
func blobFetch(blob js.Value) func(off int64, n int) ([]byte, error) {
	return func(off int64, n int) ([]byte, error) {
		buf, err := await(blob.Call("slice", float64(off), float64(off+int64(n))).Call("arrayBuffer"))
		if err != nil {
			return nil, err
		}
		return bytesFromJS(js.Global().Get("Uint8Array").New(buf)), nil
	}
}

// handleFile sorts one File/Blob by content: image, weights, or neither. Only
// its first bytes are read to decide; weight files are then read lazily by the
// engine (lazyFile), images whole after a size check.
func (p *page) handleFile(ctx app.Context, f js.Value) {
	name := "pasted image"
	if n := f.Get("name"); n.Type() == js.TypeString && n.String() != "" {
		name = n.String()
	}
	size := int64(f.Get("size").Float())
	report(ctx, func(p *page) { p.err = nil; p.status = "Reading " + name + "…" })
	src := newLazyFile(size, blobFetch(f))
	head := make([]byte, min(size, sniffBytes))
	if _, err := src.ReadAt(head, 0); err != nil {
		p.fail(ctx, &uiError{Kind: "read", Title: "Could not read " + name, Detail: err.Error(), Next: "Try choosing the file again."})
		return
	}
	switch k := sniff(head); k {
	case kindImage:
		if size > maxImageFileBytes {
			p.fail(ctx, &uiError{Kind: "enormous", Title: name + " is too large to decode here",
				Detail: fmt.Sprintf("The file is %.0f MB; this page decodes photos up to %d MB.", float64(size)/1e6, maxImageFileBytes>>20),
				Next:   "Scale it down (the model sees 224×224 anyway) and try again. Whatever was loaded is still there."})
			return
		}
		b := make([]byte, size)
		if _, err := src.ReadAt(b, 0); err != nil {
			p.fail(ctx, &uiError{Kind: "read", Title: "Could not read " + name, Detail: err.Error(), Next: "Try choosing the file again."})
			return
		}
		p.handleImage(ctx, f, name, b)
	case kindSafetensors:
		engineRequests <- engineRequest{Kind: reqWeights, Name: name, Src: src, FileKind: k}
	case kindPyTorchZip:
		// An official checkpoint does not name its variant: convert it for
		// the model picked in the picker, or try each listed model.
		variant := ""
		if c := choiceByID(p.modelID); !c.Builtin {
			variant = c.ID
		}
		engineRequests <- engineRequest{Kind: reqWeights, Name: name, Src: src, FileKind: k, Variant: variant}
	case kindPyTorchLegacy:
		p.fail(ctx, &uiError{Kind: "weights", Title: name + " is a legacy PyTorch pickle",
			Detail: "Only the zip format that torch.save writes since PyTorch 1.6 can be read here.",
			Next:   "Re-save it with a recent PyTorch (torch.save(torch.load(f), g)) or convert it with make weights."})
	default:
		p.fail(ctx, notImageError(name, size))
	}
}

// notImageError distinguishes "named like an image but the bytes are not one"
// (corrupt) from any other file.
func notImageError(name string, size int64) *uiError {
	lower := strings.ToLower(name)
	for _, ext := range []string{".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"} {
		if strings.HasSuffix(lower, ext) {
			return &uiError{Kind: "corrupt", Title: name + " is not a valid image",
				Detail: fmt.Sprintf("It is named like an image, but its %d bytes do not start like any image format.", size),
				Next:   "The file may be damaged; try another copy or another photo. Whatever was loaded is still there."}
		}
	}
	if size == 0 {
		return &uiError{Kind: "not-image", Title: name + " is empty", Detail: "The file has no bytes.", Next: "Choose a photo (PNG, JPEG, GIF, WebP or BMP)."}
	}
	return &uiError{Kind: "not-image", Title: name + " is not an image",
		Detail: "It is neither a photo (PNG, JPEG, GIF, WebP, BMP) nor a weight file (.safetensors, PyTorch .pth); the check reads its first bytes, not its name.",
		Next:   "Choose a photo, or drop a converted .safetensors / official .pth to load weights."}
}

// imageError turns a header-check error into its message.
func imageError(name string, err error) *uiError {
	switch {
	case errors.Is(err, errBomb):
		return &uiError{Kind: "bomb", Title: name + " looks like a decompression bomb", Detail: err.Error(),
			Next: "It was refused before decoding. Choose an ordinary photo."}
	case errors.Is(err, errEnormous):
		return &uiError{Kind: "enormous", Title: name + " is too large to decode here", Detail: err.Error(),
			Next: "Scale it down (the model sees 224×224 anyway) and try again."}
	case errors.Is(err, errNoContent):
		return &uiError{Kind: "not-image", Title: name + " is empty", Detail: err.Error(), Next: "Choose a photo."}
	}
	return &uiError{Kind: "corrupt", Title: name + " is corrupt or truncated", Detail: err.Error(),
		Next: "Try another copy of the file or another photo. Whatever was loaded is still there."}
}

// handleImage checks the header, decodes in the browser and queues the
// classification.
func (p *page) handleImage(ctx app.Context, blob js.Value, name string, b []byte) {
	start := time.Now()
	_, w, h, err := imageHeader(b)
	if err != nil {
		p.fail(ctx, imageError(name, err))
		return
	}
	report(ctx, func(p *page) { p.status = fmt.Sprintf("Decoding %s (%d×%d)…", name, w, h) })
	dec, err := await(js.Global().Call("slakDecode", blob))
	if err != nil {
		p.fail(ctx, imageError(name, fmt.Errorf("%w: %v", errCorrupt, err)))
		return
	}
	dw, dh := dec.Get("width").Int(), dec.Get("height").Int()
	rgba := bytesFromJS(dec.Get("data"))
	src := js.Global().Get("URL").Call("createObjectURL", blob).String()
	engineRequests <- engineRequest{Kind: reqClassify, Name: name, Image: &rgbaImage{Pix: rgba, W: dw, H: dh, Src: src}, DecodeMs: msSince(start)}
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Microseconds()) / 1000 }

// loadSample fetches a gallery photo and handles it like a dropped file.
func (p *page) loadSample(ctx app.Context, url, label string) {
	ctx.Async(func() {
		resp, err := await(js.Global().Call("fetch", url))
		if err == nil && !resp.Get("ok").Bool() {
			err = fmt.Errorf("HTTP %d", resp.Get("status").Int())
		}
		var blob js.Value
		if err == nil {
			blob, err = await(resp.Call("blob"))
		}
		if err != nil {
			p.fail(ctx, &uiError{Kind: "network", Title: "Could not fetch the sample " + label, Detail: err.Error(), Next: "Check the connection and try again."})
			return
		}
		file := js.Global().Get("File").New([]any{blob}, label+" (sample)", map[string]any{"type": blob.Get("type")})
		p.handleFile(ctx, file)
	})
}

// loadURL downloads a converted model (or takes it from this device's cache).
func (p *page) loadURL(ctx app.Context, variant, url string) {
	p.busy = true
	ctx.Async(func() {
		key := variant + ".safetensors"
		if data, err := await(js.Global().Get("slakStore").Call("get", key)); err == nil && data.Truthy() {
			engineRequests <- engineRequest{Kind: reqWeights, Name: key, Data: bytesFromJS(data), FileKind: kindSafetensors, Variant: variant, FromDevice: true}
			return
		}
		label := "Downloading " + key
		progress := js.FuncOf(func(this js.Value, args []js.Value) any {
			loaded, total := int64(args[0].Float()), int64(args[1].Float())
			report(ctx, func(p *page) { p.load = &loadProgress{Label: label, Stage: "downloaded", Loaded: loaded, Total: total} })
			return nil
		})
		defer progress.Release()
		u8, err := await(js.Global().Call("slakFetch", url, progress))
		if err != nil {
			report(ctx, func(p *page) {
				p.busy, p.load = false, nil
				p.err = &uiError{Kind: "download", Title: "Could not download " + key, Detail: err.Error(),
					Next: "Convert the checkpoint with make weights and put it at web/models/, or drop the file onto the page. The current model stays loaded."}
			})
			return
		}
		data := bytesFromJS(u8)
		engineRequests <- engineRequest{Kind: reqWeights, Name: key, Data: data, FileKind: kindSafetensors, Variant: variant, CacheKey: key}
	})
}

// cacheWeights stores a validated weight file in IndexedDB.
func cacheWeights(ctx app.Context, key string, data []byte) {
	if _, err := await(js.Global().Get("slakStore").Call("put", key, bytesToJS(data))); err != nil {
		app.Log("caching", key, "failed:", err)
	}
}

// refreshCache lists the cached weight files (blocks: call off the UI goroutine).
func refreshCache(ctx app.Context) {
	list, err := await(js.Global().Get("slakStore").Call("list"))
	if err != nil {
		return // no IndexedDB (private mode): nothing is cached
	}
	var files []cachedFile
	for i := 0; i < list.Length(); i++ {
		it := list.Index(i)
		files = append(files, cachedFile{Name: it.Get("name").String(), Size: int64(it.Get("size").Float())})
	}
	report(ctx, func(p *page) { p.cached = files })
}

func (p *page) deleteCached(ctx app.Context, name string) {
	ctx.Async(func() {
		if _, err := await(js.Global().Get("slakStore").Call("del", name)); err != nil {
			p.fail(ctx, &uiError{Kind: "cache", Title: "Could not delete " + name, Detail: err.Error(), Next: "Clear the site's data in the browser settings."})
		}
		refreshCache(ctx)
	})
}

func (p *page) loadBuiltin(ctx app.Context) {
	p.busy = true
	ctx.Async(func() { engineRequests <- engineRequest{Kind: reqBuiltin} })
}

func (p *page) retry(ctx app.Context) {
	p.busy = true
	p.status = "Recreating the GPU device…"
	ctx.Async(func() { engineRequests <- engineRequest{Kind: reqRetry} })
}

// drawCrop paints r's 224² model input into the crop canvas after render.
func (p *page) drawCrop(ctx app.Context, r *result) {
	if r == nil || len(r.cropRGBA) == 0 {
		return
	}
	pageCtx.Defer(func(app.Context) {
		js.Global().Call("slakPutRGBA", "crop-canvas", bytesToJS(r.cropRGBA), 224, 224)
	})
}
