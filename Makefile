# SLaK in the browser. The two commands a newcomer needs:
#   make run    build the WebAssembly app and serve it on http://localhost:8000
#   make test   install what the tests need (Debian: lavapipe, libvulkan1, chromium) and run them all
SHELL        := /bin/bash
.SHELLFLAGS  := -o pipefail -c
GO        ?= go
ADDR      ?= localhost:8000
SITE      ?= site
GOTEST    ?= $(GO) test -count=1 -timeout 40m
WASMFLAGS ?= -trimpath -ldflags="-s -w"

.PHONY: all run site wasm test test-deps vet wasm-check golden weights bench fuzz erftable clean

all: wasm

## wasm: the UI, compiled to web/app.wasm
wasm:
	GOOS=js GOARCH=wasm $(GO) build $(WASMFLAGS) -o web/app.wasm ./app

## run: build and serve the app (built-in untrained SLaK-T needs no download)
run: wasm
	$(GO) run ./app -addr $(ADDR)

## site: a static build any static host can serve, written to $(SITE)/
site: wasm
	$(GO) run ./app -static $(SITE)

## test: everything; CI=true turns GPU/browser skips into failures. The verbose log (every op,
## case and direction of the GPU conformance suite, the Vulkan adapter's name) is printed without
## the === RUN noise and kept whole in $(TESTLOG).
TESTLOG ?= /tmp/slak-test.log
test: test-deps vet wasm-check
	$(GOTEST) -v ./... 2>&1 | tee $(TESTLOG) | grep -v -E '^=== (RUN|PAUSE|CONT|NAME)'
	@echo "make test: all packages passed (full log: $(TESTLOG))"

test-deps:
	@tools/install-test-deps.sh

vet:
	$(GO) vet ./...

## wasm-check: the browser side must keep compiling
wasm-check:
	GOOS=js GOARCH=wasm $(GO) vet ./engine/... ./app/...
	GOOS=js GOARCH=wasm $(GO) build -o /dev/null ./app

## golden: regenerate the PyTorch fixtures (needs Debian python3-torch 1.13, python3-torchvision, python3-skimage)
golden:
	cd tools/golden && /usr/bin/python3 gen.py --out ../../testdata/golden

## weights: convert an official checkpoint, e.g. make weights CKPT=checkpoint-best.pth VARIANT=slak_t
weights:
	@test -n "$(CKPT)" -a -n "$(VARIANT)" || { echo "usage: make weights CKPT=file.pth VARIANT=slak_t|slak_s|slak_b|slak_t31|convnext_t|replknet_31b [DTYPE=f16|f32]"; exit 2; }
	@mkdir -p web/models
	$(GO) run ./weights/cmd/slakweights convert -in "$(CKPT)" -variant $(VARIANT) -dtype $(or $(DTYPE),f16) -out $(or $(OUT),web/models/$(VARIANT).safetensors)

## bench: kernel and whole-model benchmark on the native adapter, as JSON
bench:
	$(GO) run ./tools/bench

## fuzz: run each parser fuzzer for FUZZTIME (default 60s); crashers land in testdata/fuzz/
FUZZ = -run '^$$' -fuzztime $(or $(FUZZTIME),60s) -fuzzminimizetime 5s
fuzz:
	$(GO) test ./weights $(FUZZ) -fuzz '^FuzzPickle$$'
	$(GO) test ./weights $(FUZZ) -fuzz '^FuzzReadPTH$$'
	$(GO) test ./weights $(FUZZ) -fuzz '^FuzzReadSafetensors$$'
	$(GO) test ./weights/convert $(FUZZ) -fuzz '^FuzzLoadModelFile$$'

## erftable: r at t = 20/30/50/99 % for the untrained ConvNeXt-T, RepLKNet-31B, SLaK-T (native GPU)
erftable:
	$(GO) run ./tools/erftable

clean:
	rm -rf web/app.wasm $(SITE)
