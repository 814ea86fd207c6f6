//go:build !wasm

package main

import (
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"os"
	"path/filepath"

	"github.com/maxence-charriere/go-app/v10/pkg/app"
)

// wasmGlobalScript exposes the WebAssembly instance as globalThis.wasm: the
// webgpu binding reads globalThis.wasm.instance.exports.mem in
// Queue.WriteBuffer, and go-app's loader keeps the instance local (ENGINE.md
// trap 1). It wraps both instantiate entry points before app.js runs.
const wasmGlobalScript = `<script>
(function () {
  const keep = (p) => p.then((r) => { if (r && r.instance) globalThis.wasm = r; return r; });
  const streaming = WebAssembly.instantiateStreaming;
  if (streaming) WebAssembly.instantiateStreaming = function () { return keep(streaming.apply(WebAssembly, arguments)); };
  const inst = WebAssembly.instantiate;
  WebAssembly.instantiate = function () { return keep(inst.apply(WebAssembly, arguments)); };
})();
</script>`

// newHandler is the go-app handler; root is the folder that holds web/.
func newHandler(root string) *app.Handler {
	return &app.Handler{
		Name:            "SLaK in the browser",
		ShortName:       "SLaK",
		Title:           "SLaK in the browser: 51×51 sparse large-kernel ConvNets on WebGPU",
		Description:     "Classify photos with SLaK (sparse 51×51 kernels) running on WebGPU in your browser.",
		Lang:            "en",
		LoadingLabel:    "Loading the app ({progress}%)",
		BackgroundColor: "#f6f7f9",
		ThemeColor:      "#1f4e79",
		RawHeaders:      []string{wasmGlobalScript},
		Styles:          []string{"/web/app.css"},
		Scripts:         []string{"/web/slak.js"},
		Resources:       webDir{http.FileServer(http.Dir(root))},
		CacheableResources: []string{
			"/web/samples/chelsea.png", "/web/samples/coffee.jpg",
			"/web/samples/astronaut.jpg", "/web/samples/rocket.jpg",
		},
	}
}

// webDir serves /web/… from a folder on disk and leaves the URLs as they
// are (app.LocalDir would put the folder's path into the URLs).
type webDir struct{ http.Handler }

func (webDir) Resolve(location string) string {
	if location == "" {
		return "/"
	}
	return location
}

// serve runs the server, or writes the static site with -static.
func serve() {
	addr := flag.String("addr", "localhost:8000", "listen address")
	root := flag.String("root", ".", "folder that holds web/ (app.wasm, app.css, samples)")
	static := flag.String("static", "", "write a static website into this folder and exit")
	flag.Parse()
	h := newHandler(*root)
	if *static != "" {
		if err := writeStatic(*static, *root, h); err != nil {
			log.Fatal(err)
		}
		fmt.Println("static site written to", *static)
		return
	}
	log.Printf("serving on http://%s", *addr)
	log.Fatal(http.ListenAndServe(*addr, h))
}

// writeStatic generates the pages with go-app and copies web/ beside them.
func writeStatic(dir, root string, h *app.Handler) error {
	if _, err := os.Stat(filepath.Join(root, "web", "app.wasm")); err != nil {
		return fmt.Errorf("static site: %w (build it first: GOOS=js GOARCH=wasm go build -o web/app.wasm ./app)", err)
	}
	if err := app.GenerateStaticWebsite(dir, h); err != nil {
		return fmt.Errorf("static site: %w", err)
	}
	src := filepath.Join(root, "web")
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(dir, "web", rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
