//go:build js

// Command browsertest runs the optest conformance suite in a browser: engine/cpu is the reference,
// engine/gpu (on the page's WebGPU device, opened by device_js.go) is under test. It writes one
// line per case and direction into <pre id="out">, then "BAD=<n>", and sets document.title to
// "DONE". engine/gpu's TestBrowserConformance builds it and drives Chromium with chromedp.
//
// The query string picks the cases: ?real=1 adds the real SLaK-T layer shapes; ?ab=N runs only
// the interleaved A/B of the subgroup GEMM (sg_js.go) with N samples, &fwd=M adds M samples of
// whole SLaK-T forwards tuned vs static.
package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"syscall/js"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/gpu"
	"github.com/slak-web/slak/engine/op"
	"github.com/slak-web/slak/engine/optest"
	"github.com/slak-web/slak/weights"
)

func main() {
	var sb strings.Builder
	query := js.Global().Get("location").Get("search").String()
	real := strings.Contains(query, "real=1")
	b, err := gpu.New()
	if err != nil {
		fmt.Fprintf(&sb, "OPEN ERROR: %v\nBAD=1\n", err)
	} else if n := 0; strings.Contains(query, "ab=") {
		// ?ab=N: only the interleaved A/B of the pointwise GEMMs (sg_js.go), N samples each
		fmt.Sscanf(query[strings.Index(query, "ab=")+3:], "%d", &n)
		fmt.Fprintf(&sb, "%s\n", b.Info())
		if n > 0 {
			runTuneAB(&sb, b, n)
		}
		if i := strings.Index(query, "fwd="); i >= 0 { // &fwd=M: then M whole-forward samples (&model=NAME, default slak_t)
			m, name := 0, "slak_t"
			fmt.Sscanf(query[i+4:], "%d", &m)
			if j := strings.Index(query, "model="); j >= 0 {
				name, _, _ = strings.Cut(query[j+6:], "&")
			}
			b.ClearTuning()
			runForwardAB(&sb, b, name, m)
		}
		sb.WriteString("BAD=0\n")
	} else {
		fmt.Fprintf(&sb, "%s\n", b.Info())
		bad := 0
		for _, r := range optest.RunAll(cpu.NewBackend(), b, func(c optest.Case) bool { return real || !c.Real }) {
			if !r.OK() {
				bad++
			}
			sb.WriteString(r.String() + "\n")
		}
		line, ok := halfCheck(b)
		if !ok {
			bad++
		}
		sb.WriteString(line + "\n")
		bad += runSG(&sb, b, real) // the subgroup GEMM forced on, when the device has subgroups
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

// halfCheck runs the GEMM paths with half weights (gpu.Backend.UploadF16) and with their exact
// float32 widening on the page's device and requires bit-equal outputs (tolerance 0, as
// engine/gpu's TestHalfGEMMExact natively): "HALF ok (…)" or "HALF FAIL …".
func halfCheck(b *gpu.Backend) (string, bool) {
	r := rand.New(rand.NewPCG(16, 6))
	rnd := func(n int, scale float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * scale)
		}
		return v
	}
	native, why := b.HalfNativeStatus()
	mode := "f16 (shader-f16)"
	if !native {
		mode = "unpack2x16float (" + why + ")"
	}
	var free []op.Tensor
	defer func() {
		for _, t := range free {
			b.Free(t)
		}
	}()
	up := func(v []float32, shape ...int) op.Tensor {
		t, err := b.Upload(v, shape...)
		if err != nil {
			panic(err)
		}
		free = append(free, t)
		return t
	}
	// W [Out, In] as halves and as their widening
	pair := func(n int, scale float64, shape ...int) (op.Tensor, op.Tensor) {
		h := make([]uint16, n)
		f := make([]float32, n)
		for i, v := range rnd(n, scale) {
			h[i] = weights.Float16Bits(v)
			f[i] = weights.Float32FromBits(h[i])
		}
		t, err := b.UploadF16(h, shape...)
		if err != nil {
			panic(err)
		}
		free = append(free, t)
		return t, up(f, shape...)
	}
	type gemm struct {
		name string
		f    func(half bool) (op.Tensor, error) // half: the half W, else its widening
	}
	pick := func(half bool, wh, w32 op.Tensor) op.Tensor {
		if half {
			return wh
		}
		return w32
	}
	var cases []gemm
	for _, p := range []op.Linear{{In: 249, Out: 133, HW: 33, Bias: true}, {In: 124, Out: 130, HW: 196, Bias: true}, {In: 31, Out: 7, HW: 1, Bias: true}} {
		p := p
		wh, w32 := pair(p.Out*p.In, 1/math.Sqrt(float64(p.In)), p.Out, p.In)
		x, bias := up(rnd(p.In*p.HW, 1), p.In, p.HW), up(rnd(p.Out, 0.1), p.Out)
		g, be := up(rnd(p.In, 1), p.In), up(rnd(p.In, 0.1), p.In)
		g2, res := up(rnd(p.Out, 1), p.Out), up(rnd(p.Out*p.HW, 1), p.Out, p.HW)
		ln := op.LayerNorm{C: p.In, HW: p.HW, Eps: 1e-6}
		n := fmt.Sprintf("%d->%d HW%d", p.In, p.Out, p.HW)
		cases = append(cases,
			gemm{"linear " + n, func(h bool) (op.Tensor, error) { return b.Linear(x, pick(h, wh, w32), bias, p) }},
			gemm{"lnlineargelu " + n, func(h bool) (op.Tensor, error) { return b.LNLinearGELU(x, g, be, pick(h, wh, w32), bias, ln, p) }},
			gemm{"linearscaleresidual " + n, func(h bool) (op.Tensor, error) {
				return b.LinearScaleResidual(x, pick(h, wh, w32), bias, g2, res, p)
			}},
			gemm{"linear_grad " + n, func(h bool) (op.Tensor, error) { return b.LinearGradInput(res, pick(h, wh, w32), p) }})
	}
	cp := op.Conv2D{Cin: 3, H: 17, W: 19, Cout: 13, KH: 4, KW: 4, Stride: 4, Bias: true}
	cwh, cw32 := pair(13*3*4*4, 0.2, 13, 3, 4, 4)
	cx, cb := up(rnd(3*17*19, 1), 3, 17, 19), up(rnd(13, 0.1), 13)
	cases = append(cases, gemm{"conv2d stem-like", func(h bool) (op.Tensor, error) { return b.Conv2D(cx, pick(h, cwh, cw32), cb, cp) }})
	for _, c := range cases {
		var got [2][]float32
		for i, h := range []bool{true, false} {
			y, err := c.f(h)
			if err != nil {
				return fmt.Sprintf("HALF FAIL %s: %v", c.name, err), false
			}
			if got[i], err = b.Download(y); err != nil {
				return fmt.Sprintf("HALF FAIL %s: %v", c.name, err), false
			}
			b.Free(y)
		}
		for i := range got[1] {
			if math.Float32bits(got[0][i]) != math.Float32bits(got[1][i]) {
				return fmt.Sprintf("HALF FAIL %s at %d: half W %g, widened W %g (tolerance 0)", c.name, i, got[0][i], got[1][i]), false
			}
		}
	}
	return fmt.Sprintf("HALF ok: %d GEMM cases bit-equal with half and widened weights, read by %s", len(cases), mode), true
}
