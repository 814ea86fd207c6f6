//go:build !wasm

package main

import "github.com/maxence-charriere/go-app/v10/pkg/app"

// Natively the page is only pre-rendered by the server: no engine, no files.

func (p *page) start(ctx app.Context)                         {}
func (p *page) loadSample(ctx app.Context, url, label string) {}
func (p *page) loadURL(ctx app.Context, variant, url string)  {}
func (p *page) deleteCached(ctx app.Context, name string)     {}
func (p *page) loadBuiltin(ctx app.Context)                   {}
func (p *page) retry(ctx app.Context)                         {}
func (p *page) drawCrop(ctx app.Context, r *result)           {}

func (p *page) onOpenBench(ctx app.Context, e app.Event)    {}
func (p *page) requestKernels(ctx app.Context)              {}
func (p *page) requestRemask(ctx app.Context, sparsity int) {}
func (p *page) onERFRun(ctx app.Context, e app.Event)       {}
func (p *page) onERFCancel(ctx app.Context, e app.Event)    {}
func (p *page) paintERF(ctx app.Context)                    {}
func (p *page) paintKernels(ctx app.Context)                {}
func (p *page) onBenchRun(ctx app.Context, e app.Event)     {}
func (p *page) onBenchCopy(ctx app.Context, e app.Event)    {}
func (p *page) openHome(ctx app.Context, view string)       {}
