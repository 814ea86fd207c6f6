// Command app is the SLaK-in-the-browser web app, built twice from this
// package: with GOOS=js GOARCH=wasm it is the UI (web/app.wasm); natively it is
// the server and the static-site generator (server.go).
//
// Only engine.go (wasm) talks to the engine; browser_wasm.go holds the
// JavaScript interop; ui.go is the page; sniff.go checks files before any
// decoding.
package main

import "github.com/maxence-charriere/go-app/v10/pkg/app"

func main() {
	routes()
	app.RunWhenOnBrowser()
	serve()
}

// routes registers the pages (natively for pre-rendering, in wasm to mount).
func routes() {
	app.Route("/", func() app.Composer { return &page{} })
	app.Route("/bench", func() app.Composer { return &page{} }) // the in-browser benchmark view
}
