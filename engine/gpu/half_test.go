//go:build !js

package gpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/slak-web/slak/engine/op"
	"github.com/slak-web/slak/weights"
)

// Tests of half tensors (half.go). Tolerance 0 throughout: unpack2x16float and f32(f16) widen
// binary16 exactly, and a kernel reading half W sums the same products in the same order as the
// same kernel reading W's float32 expansion (widened on the host here, so a device that flushed
// subnormal halves would fail), so the outputs must be bit for bit equal.

// halfBits returns n binary16 values ~ N(0, scale²) and their exact widening, with the
// awkward values planted at the front: ±0, subnormals (smallest, largest), the smallest normal
// and the largest finite half.
func halfBits(r *rand.Rand, n int, scale float64) ([]uint16, []float32) {
	bits := make([]uint16, n)
	for i := range bits {
		bits[i] = weights.Float16Bits(float32(r.NormFloat64() * scale))
	}
	special := []uint16{0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x7bff, 0x0201, 0x8005}
	copy(bits, special[:min(len(special), n)])
	f := make([]float32, n)
	for i, h := range bits {
		f[i] = weights.Float32FromBits(h)
	}
	return bits, f
}

func upHalf(t *testing.T, b *Backend, bits []uint16, shape ...int) op.Tensor {
	t.Helper()
	x, err := b.UploadF16(bits, shape...)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// sameBits fails at the first element whose bits differ, naming the case and coordinate.
func sameBits(t *testing.T, what string, cols int, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d elements, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: at (c=%d, p=%d): got %g (%#08x), want %g (%#08x); tolerance 0 (exact widening, same summation order)",
				what, i/cols, i%cols, got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

func TestF16ToF32(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		got, want := op.F16ToF32(uint16(h)), weights.Float32FromBits(uint16(h))
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("op.F16ToF32(%#04x) = %g, want %g", h, got, want)
		}
	}
}

// TestHalfUploadDownloadFree: odd lengths, readback of the exact widening, the device's
// expansion (half_unpack.wgsl) of every one of the 65536 binary16 values, memory accounting.
func TestHalfUploadDownloadFree(t *testing.T) {
	b := backend(t)
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	m0 := b.Memory()
	r := rand.New(rand.NewPCG(6, 6))
	for _, n := range []int{1, 2, 3, 7, 9, 17, 249, 499 * 3} {
		bits, want := halfBits(r, n, 1)
		x := upHalf(t, b, bits, n)
		if m := b.Memory(); m.HalfTensors != m0.HalfTensors+1 || m.HalfBytes != m0.HalfBytes+HalfBytes(n) || m.Bytes != m0.Bytes+HalfBytes(n) {
			t.Errorf("n=%d: memory %+v after upload, want %d more half bytes than %+v", n, m, HalfBytes(n), m0)
		}
		if !IsHalf(x) || x.Len() != n {
			t.Errorf("n=%d: IsHalf %v, Len %d", n, IsHalf(x), x.Len())
		}
		got := down(t, b, x) // frees x
		sameBits(t, fmt.Sprintf("download n=%d", n), n, got, want)
		if err := b.Flush(); err != nil {
			t.Fatal(err)
		}
		if m := b.Memory(); m != m0 {
			t.Errorf("n=%d: memory %+v after free, want %+v", n, m, m0)
		}
	}
	if _, err := b.UploadF16(make([]uint16, 5), 2, 3); err == nil {
		t.Error("UploadF16 of 5 values for [2 3]: no error")
	}
	// every binary16 value through the device's expansion (the fallback of every f32 kernel)
	all := make([]uint16, 1<<16+1) // odd length: the last word holds one value
	for i := range all {
		all[i] = uint16(i)
	}
	x := upHalf(t, b, all, len(all))
	defer b.Free(x)
	b.mu.Lock()
	e, err := b.unpack("test", x.(*Tensor))
	b.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	got := down(t, b, e)
	for i, h := range all {
		want := weights.Float32FromBits(h)
		if want != want { // NaN: any quiet NaN of the same sign will do
			if got[i] == got[i] || math.Signbit(float64(got[i])) != math.Signbit(float64(want)) {
				t.Fatalf("half_unpack(%#04x) = %g, want a NaN of the same sign", h, got[i])
			}
			continue
		}
		if math.Float32bits(got[i]) != math.Float32bits(want) {
			t.Fatalf("half_unpack(%#04x) = %g (%#08x), want %g (%#08x)", h, got[i], math.Float32bits(got[i]), want, math.Float32bits(want))
		}
	}
}

// halfModes runs f with the half weights read natively as f16 (when the device can) and as
// unpacked u32 words.
func halfModes(t *testing.T, b *Backend, f func(t *testing.T)) {
	saved := HalfNative
	defer func() { HalfNative = saved }()
	HalfNative = false
	t.Run("unpack", f)
	HalfNative = true
	if ok, why := b.HalfNativeStatus(); ok {
		t.Run("f16", f)
		if ok, why = b.HalfNativeStatus(); !ok { // the first f16 shader may have failed
			t.Logf("native f16 not used: %s", why)
		}
	} else {
		t.Logf("native f16 not used: %s", why)
	}
}

// TestHalfGEMMExact: every GEMM path with half W equals the same path with W's float32
// expansion, bit for bit, on awkward shapes (In/Out/HW odd, 249/499, HW = 1 for the head, In %
// 4 == 0 and HW ≥ 128 for the vec4 and 16×16 blocks), with the LN+GELU and residual epilogues,
// the im2col convolutions, the direct kernels (Backend.Direct) and the f32 fallbacks (the
// gradients, depthwise, the direct conv).
func TestHalfGEMMExact(t *testing.T) {
	b := backend(t)
	r := rand.New(rand.NewPCG(16, 16))
	lins := []op.Linear{
		{In: 249, Out: 499, HW: 33, Bias: true},  // odd everything, 499 rows over tiles
		{In: 124, Out: 133, HW: 196, Bias: true}, // In % 4 == 0 (vec4 W), HW % 4 == 0, ≥ 128 (square/long blocks)
		{In: 499, Out: 130, HW: 49, Bias: true},  // stage-3-like HW (tall blocks), odd In
		{In: 31, Out: 7, HW: 1, Bias: true},      // the head: one pixel
		{In: 12, Out: 5, HW: 3, Bias: false},
		{In: 37, Out: 12, HW: 49, Bias: true}, // In % 4 ≠ 0, Out·In % 4 == 0: matmul_lane's realigned W rows
	}
	convs := []op.Conv2D{
		{Cin: 3, H: 17, W: 19, Cout: 13, KH: 4, KW: 4, Stride: 4, Bias: true}, // stem-like, In = 48
		{Cin: 9, H: 14, W: 10, Cout: 17, KH: 2, KW: 2, Stride: 2, Bias: true}, // downsample-like, In = 36
		{Cin: 5, H: 9, W: 7, Cout: 3, KH: 3, KW: 3, Stride: 2, PadH: 1, PadW: 1},
	}
	halfModes(t, b, func(t *testing.T) {
		for _, direct := range []bool{false, true} {
			b.Direct = direct
			for _, p := range lins {
				name := fmt.Sprintf("In%d_Out%d_HW%d_direct%v", p.In, p.Out, p.HW, direct)
				bits, wf := halfBits(r, p.Out*p.In, 1/math.Sqrt(float64(p.In)))
				wh, w32 := upHalf(t, b, bits, p.Out, p.In), up(t, b, wf, p.Out, p.In)
				x, bias := up(t, b, rnd(r, p.In*p.HW, 1), p.In, p.HW), up(t, b, rnd(r, p.Out, 0.1), p.Out)
				if !p.Bias {
					b.Free(bias)
					bias = nil
				}
				gamma, beta := up(t, b, rnd(r, p.In, 1), p.In), up(t, b, rnd(r, p.In, 0.1), p.In)
				g2, res := up(t, b, rnd(r, p.Out, 1), p.Out), up(t, b, rnd(r, p.Out*p.HW, 1), p.Out, p.HW)
				dy := up(t, b, rnd(r, p.Out*p.HW, 1), p.Out, p.HW)
				ln := op.LayerNorm{C: p.In, HW: p.HW, Eps: 1e-6}
				for _, c := range []struct {
					what string
					f    func(w op.Tensor) (op.Tensor, error)
				}{
					{"linear", func(w op.Tensor) (op.Tensor, error) { return b.Linear(x, w, bias, p) }},
					{"lnlineargelu", func(w op.Tensor) (op.Tensor, error) { return b.LNLinearGELU(x, gamma, beta, w, bias, ln, p) }},
					{"linearscaleresidual", func(w op.Tensor) (op.Tensor, error) { return b.LinearScaleResidual(x, w, bias, g2, res, p) }},
					{"linear_grad", func(w op.Tensor) (op.Tensor, error) { return b.LinearGradInput(dy, w, p) }},
				} {
					if c.what == "lnlineargelu" && !p.Bias {
						continue
					}
					yh, err := c.f(wh)
					if err != nil {
						t.Fatalf("%s %s half: %v", c.what, name, err)
					}
					y32, err := c.f(w32)
					if err != nil {
						t.Fatalf("%s %s f32: %v", c.what, name, err)
					}
					sameBits(t, c.what+" "+name, p.HW, down(t, b, yh), down(t, b, y32))
				}
				for _, v := range []op.Tensor{wh, w32, x, bias, gamma, beta, g2, res, dy} {
					b.Free(v)
				}
			}
			for _, p := range convs {
				name := fmt.Sprintf("conv_%dx%dx%d_k%d_s%d_direct%v", p.Cin, p.H, p.W, p.KH, p.Stride, direct)
				n := p.Cout * p.Cin * p.KH * p.KW
				bits, wf := halfBits(r, n, 0.2)
				wh, w32 := upHalf(t, b, bits, p.Cout, p.Cin, p.KH, p.KW), up(t, b, wf, p.Cout, p.Cin, p.KH, p.KW)
				x := up(t, b, rnd(r, p.Cin*p.H*p.W, 1), p.Cin, p.H, p.W)
				var bias op.Tensor
				if p.Bias {
					bias = up(t, b, rnd(r, p.Cout, 0.1), p.Cout)
				}
				dy := up(t, b, rnd(r, p.Cout*p.OutH()*p.OutW(), 1), p.Cout, p.OutH(), p.OutW())
				for _, c := range []struct {
					what string
					f    func(w op.Tensor) (op.Tensor, error)
				}{
					{"conv2d", func(w op.Tensor) (op.Tensor, error) { return b.Conv2D(x, w, bias, p) }},
					{"conv2d_grad", func(w op.Tensor) (op.Tensor, error) { return b.Conv2DGradInput(dy, w, p) }},
				} {
					yh, err := c.f(wh)
					if err != nil {
						t.Fatalf("%s %s half: %v", c.what, name, err)
					}
					y32, err := c.f(w32)
					if err != nil {
						t.Fatalf("%s %s f32: %v", c.what, name, err)
					}
					sameBits(t, c.what+" "+name, p.OutW(), down(t, b, yh), down(t, b, y32))
				}
				for _, v := range []op.Tensor{wh, w32, x, bias, dy} {
					if v != nil {
						b.Free(v)
					}
				}
			}
		}
		b.Direct = false
		// a depthwise kernel given half weights (not what Load does, but any op must take them)
		dp := op.DWConv{C: 7, H: 9, W: 11, KH: 5, KW: 3, Stride: 1, PadH: 2, PadW: 1}
		bits, wf := halfBits(r, 7*5*3, 0.3)
		wh, w32 := upHalf(t, b, bits, 7, 5, 3), up(t, b, wf, 7, 5, 3)
		x := up(t, b, rnd(r, 7*9*11, 1), 7, 9, 11)
		yh, err := b.DWConv(x, wh, nil, dp)
		if err != nil {
			t.Fatal(err)
		}
		y32, err := b.DWConv(x, w32, nil, dp)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, "dwconv", 11, down(t, b, yh), down(t, b, y32))
		for _, v := range []op.Tensor{wh, w32, x} {
			b.Free(v)
		}
	})
	// HalfKernels = false: the fast kernel on the cached expansion (the bench baseline), freed
	// with the tensor.
	HalfKernels = false
	defer func() { HalfKernels = true }()
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	m0 := b.Memory()
	p := op.Linear{In: 249, Out: 13, HW: 9}
	bits, wf := halfBits(r, p.Out*p.In, 0.1)
	wh, w32 := upHalf(t, b, bits, p.Out, p.In), up(t, b, wf, p.Out, p.In)
	x := up(t, b, rnd(r, p.In*p.HW, 1), p.In, p.HW)
	yh, err := b.Linear(x, wh, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	y32, err := b.Linear(x, w32, nil, p)
	if err != nil {
		t.Fatal(err)
	}
	sameBits(t, "linear HalfKernels=false", p.HW, down(t, b, yh), down(t, b, y32))
	if m := b.Memory(); m.Bytes != m0.Bytes+HalfBytes(p.Out*p.In)+uint64(4*p.Out*p.In)*2+uint64(4*p.In*p.HW) {
		t.Errorf("memory %+v with a cached expansion, want %d bytes (half + expansion + f32 W + x)", m, m0.Bytes+HalfBytes(p.Out*p.In)+uint64(4*p.Out*p.In)*2+uint64(4*p.In*p.HW))
	}
	for _, v := range []op.Tensor{wh, w32, x} {
		b.Free(v)
	}
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	if m := b.Memory(); m != m0 {
		t.Errorf("memory %+v after freeing, want %+v", m, m0)
	}
}

// TestHalfF16ShaderValidates checks the f16 variants' WGSL (which only a shader-f16 device
// compiles: not SwiftShader, and the native naga of wgpu-native v0.23 may reject the
// directive) with the tint and naga validators when they are on the PATH.
func TestHalfF16ShaderValidates(t *testing.T) {
	tools := wgslValidators(t, "tint", "naga")
	b := &Backend{info: Info{Features: []string{"shader-f16"}}, f16Probed: true} // a device that took the probe
	validateWGSL(t, tools, "the f16 probe", f16Probe)
	for _, vec := range []bool{false, true} {
		for _, sh := range []struct {
			name string
			more map[string]string
		}{
			{"matmul_fast_v4", map[string]string{"LN": "true", "EPI": "1", "WG": "8", "PB": "4", "BS": "512", "OB": "4", "AS": "512",
				"XV": "true", "WV": fmt.Sprint(vec), "XT": "vec4<f32>", "X1": "x[i / 4u][i % 4u]", "X4": "x[i4]", "R1": "aux0[i / 4u][i % 4u]", "R4": "aux0[i4]",
				"Y1": "y[i / 4u][i % 4u] = v", "Y4": "y[i4] = v"}},
			{"matmul_fast", map[string]string{"LN": "false", "EPI": "2", "WG": "8", "PATCH": "true"}},
			{"linear", map[string]string{"BIAS": "true"}},
		} {
			if sh.name != "matmul_fast_v4" && vec {
				continue
			}
			arr := "wm"
			if sh.name == "linear" {
				arr = "wt"
			}
			_, s, err := b.halfW("test", &Tensor{half: true}, arr, vec)
			if err != nil || s["ENABLE"] == "" {
				t.Fatalf("halfW with shader-f16: %v %v", s, err)
			}
			sub := map[string]string{}
			for k, v := range s {
				sub[k] = v
			}
			for k, v := range sh.more {
				sub[k] = v
			}
			src, err := Source(sh.name, sub)
			if err != nil {
				t.Fatal(err)
			}
			validateWGSL(t, tools, fmt.Sprintf("%s (f16, vec %v)", sh.name, vec), src)
		}
	}
}

// TestHalfDispatchGuard: a shader that reads its inputs as f32 refuses a half tensor (a kernel
// added without halfW's substitutions fails loudly instead of reading the packed words).
func TestHalfDispatchGuard(t *testing.T) {
	b := backend(t)
	w := upHalf(t, b, make([]uint16, 6), 2, 3).(*Tensor)
	defer b.Free(w)
	dy := up(t, b, make([]float32, 2), 2, 1)
	defer b.Free(dy)
	b.mu.Lock()
	_, err := b.run("test", "linear_grad", nil, linearParams{3, 2, 1}, []*Tensor{dy.(*Tensor), w}, [3]uint32{1, 1, 1}, 3, 1)
	b.mu.Unlock()
	if err == nil || !strings.Contains(err.Error(), "half tensor") {
		t.Errorf("linear_grad.wgsl given a half W: err = %v, want the half-tensor refusal", err)
	}
}
