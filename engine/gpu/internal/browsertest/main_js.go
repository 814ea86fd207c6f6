//go:build js

// Command browsertest runs the optest conformance suite in a browser: engine/cpu is the reference,
// engine/gpu (on the page's WebGPU device, opened by device_js.go) is under test. It writes one
// line per case and direction into <pre id="out">, then "BAD=<n>", and sets document.title to
// "DONE". engine/gpu's TestBrowserConformance builds it and drives Chromium with chromedp.
//
// The query string picks the cases: ?real=1 adds the real SLaK-T layer shapes.
package main

import (
	"fmt"
	"strings"
	"syscall/js"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/optest"
)

func main() {
	var sb strings.Builder
	real := strings.Contains(js.Global().Get("location").Get("search").String(), "real=1")
	b, err := gpu.New()
	if err != nil {
		fmt.Fprintf(&sb, "OPEN ERROR: %v\nBAD=1\n", err)
	} else {
		fmt.Fprintf(&sb, "%s\n", b.Info())
		bad := 0
		for _, r := range optest.RunAll(cpu.NewBackend(), b, func(c optest.Case) bool { return real || !c.Real }) {
			if !r.OK() {
				bad++
			}
			sb.WriteString(r.String() + "\n")
		}
		fmt.Fprintf(&sb, "BAD=%d\n", bad)
	}
	doc := js.Global().Get("document")
	pre := doc.Call("createElement", "pre")
	pre.Set("id", "out")
	pre.Set("textContent", sb.String())
	doc.Get("body").Call("appendChild", pre)
	doc.Set("title", "DONE")
	select {}
}
