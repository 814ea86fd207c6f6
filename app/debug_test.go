//go:build !wasm

package main

import (
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestDebugPage(t *testing.T) {
	if os.Getenv("SLAK_DEBUG") == "" {
		t.Skip()
	}
	root := buildSite(t)
	srv := httptest.NewServer(newHandler(root))
	defer srv.Close()
	b := newBrowser(t, os.Getenv("SLAK_DEBUG") != "cpu")
	chromedp.Run(b.ctx, chromedp.Navigate(srv.URL+"/?builtin="+e2eVariant()))
	time.Sleep(8 * time.Second)
	t.Log(evalT[string](t, b, `document.documentElement.outerHTML.slice(0, 6000)`))
	t.Log(evalT[string](t, b, `String(typeof globalThis.wasm) + ' ' + String(typeof WebAssembly.instantiateStreaming)`))
	shot, _ := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	os.WriteFile("/tmp/shots/debug.png", shot, 0o644)
	t.Log(b.logs, b.errs)
}
