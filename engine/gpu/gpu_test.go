//go:build !js

package gpu

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slak-web/slak/engine/cpu"
	"github.com/slak-web/slak/engine/op"
	"github.com/slak-web/slak/engine/optest"
	"github.com/slak-web/slak/wgsl"
)

var (
	openOnce sync.Once
	shared   *Backend
	openErr  error
)

// requireGPU is true where a missing adapter must fail the run (CI, or SLAK_REQUIRE_GPU=1).
func requireGPU() bool { return os.Getenv("CI") == "true" || os.Getenv("SLAK_REQUIRE_GPU") == "1" }

// backend returns the shared GPU backend, skipping the test when no adapter can be opened (failing
// it under CI=true or SLAK_REQUIRE_GPU=1).
func backend(t *testing.T) *Backend {
	t.Helper()
	openOnce.Do(func() { shared, openErr = New() })
	if openErr != nil {
		if requireGPU() {
			t.Fatalf("no WebGPU device (CI=true or SLAK_REQUIRE_GPU=1 requires one): %v", openErr)
		}
		t.Skipf("no WebGPU device: %v", openErr)
	}
	return shared
}

func TestAdapter(t *testing.T) {
	b := backend(t)
	info := b.Info()
	t.Logf("%s", info)
	fmt.Printf("%s adapter: %s\n", info.Backend, info.Name) // visible in go test -v output
	if info.Name == "" || info.Limits.MaxStorageBufferBindingSize == 0 || info.Limits.MaxBufferSize == 0 {
		t.Errorf("adapter info incomplete: %+v", info)
	}
	if info.Limits.MaxStorageBufferBindingSize < 128<<20 {
		t.Errorf("maxStorageBufferBindingSize %d < WebGPU's default 128 MiB: the adapter maximum was not requested", info.Limits.MaxStorageBufferBindingSize)
	}
}

// TestConformance runs the whole optest suite: engine/cpu is the reference, this backend is under test.
func TestConformance(t *testing.T) {
	b := backend(t)
	ref := cpu.NewBackend()
	start := time.Now()
	for _, c := range optest.Cases() {
		for _, d := range []optest.Dir{optest.Forward, optest.Grad} {
			t.Run(c.Op+"/"+c.Name+"/"+d.String(), func(t *testing.T) {
				r := optest.Run(ref, b, c, d)
				if !r.OK() {
					t.Fatal(r.String())
				}
				t.Log(r.String())
			})
		}
	}
	t.Logf("suite: %v, %d submits, %d dispatches, %d submits longer than 5 s", time.Since(start).Round(time.Millisecond), b.Stats.Submits, b.Stats.Dispatches, b.Stats.LongWaits)
}

// TestConformanceDirect runs the cases of the ops that have a fast kernel again with Backend.Direct
// set, so the direct kernels stay checked when the default path is a fast one.
func TestConformanceDirect(t *testing.T) {
	backend(t)
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Direct = true
	ref := cpu.NewBackend()
	for _, c := range optest.Cases() {
		if c.Op != "dwconv" && c.Op != "linear" {
			continue
		}
		for _, d := range []optest.Dir{optest.Forward, optest.Grad} {
			t.Run(c.Op+"/"+c.Name+"/"+d.String(), func(t *testing.T) {
				if r := optest.Run(ref, b, c, d); !r.OK() {
					t.Fatal(r.String())
				}
			})
		}
	}
}

var (
	structRE  = regexp.MustCompile(`(?s)struct Params\s*\{(.*?)\}`)
	vecRE     = regexp.MustCompile(`^vec([234])<(\w+)>$`)
	bindingRE = regexp.MustCompile(`@binding\((\d+)\)\s*var<([^>]+)>\s*(\w+)\s*:\s*([\w<>, ]+);`)
)

// wgslScalar maps WGSL scalar types to the Go kinds that mirror them (all 4 bytes, align 4).
var wgslScalar = map[string]reflect.Kind{"u32": reflect.Uint32, "i32": reflect.Int32, "f32": reflect.Float32}

// TestParamsLayout checks every registered shader against its Go mirror: the Params struct field
// by field (name, type, byte offset, size) and the bindings (read-only inputs, one read_write
// output, Params uniform last).
func TestParamsLayout(t *testing.T) {
	for name, k := range kernels {
		raw, err := wgsl.FS.ReadFile(name + ".wgsl")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		src := string(raw)
		m := structRE.FindStringSubmatch(src)
		if m == nil {
			t.Errorf("%s.wgsl: no struct Params", name)
			continue
		}
		var fields [][2]string
		for _, f := range splitFields(m[1]) {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			nt := strings.SplitN(f, ":", 2)
			if len(nt) != 2 {
				t.Errorf("%s.wgsl: cannot parse Params field %q", name, f)
				continue
			}
			fields = append(fields, [2]string{strings.TrimSpace(nt[0]), strings.TrimSpace(nt[1])})
		}
		// Expand vecN<T> into N scalar components name0…name(N−1) (vec2 aligned to 8 bytes, vec3
		// and vec4 to 16), then compare with the Go mirror's fields one by one.
		type comp struct {
			name, typ string
			off       uintptr
		}
		var comps []comp
		off := uintptr(0)
		for _, f := range fields {
			typ, n := f[1], 1
			if m := vecRE.FindStringSubmatch(typ); m != nil {
				n, _ = strconv.Atoi(m[1])
				typ = m[2]
				align := uintptr(16)
				if n == 2 {
					align = 8
				}
				off = (off + align - 1) / align * align
			}
			for j := 0; j < n; j++ {
				name := f[0]
				if n > 1 {
					name += strconv.Itoa(j)
				}
				comps = append(comps, comp{name, typ, off})
				off += 4
			}
		}
		gt := reflect.TypeOf(k.params)
		if gt.NumField() != len(comps) {
			t.Errorf("%s.wgsl: Params has %d scalar components, Go mirror %s has %d fields", name, len(comps), gt.Name(), gt.NumField())
			continue
		}
		for i, c := range comps {
			gf := gt.Field(i)
			kind, ok := wgslScalar[c.typ]
			if !ok {
				t.Errorf("%s.wgsl: Params.%s has type %s; mirrors handle u32/i32/f32 and their vectors", name, c.name, c.typ)
				continue
			}
			if strings.ReplaceAll(c.name, "_", "") != strings.ToLower(gf.Name) {
				t.Errorf("%s.wgsl: Params component %d is %s, Go mirror %s has %s", name, i, c.name, gt.Name(), gf.Name)
			}
			if gf.Type.Kind() != kind || gf.Type.Size() != 4 {
				t.Errorf("%s.wgsl: Params.%s is %s, Go %s.%s is %s", name, c.name, c.typ, gt.Name(), gf.Name, gf.Type)
			}
			// paramBytes packs fields at 4-byte steps: a WGSL offset with a hole would not match.
			if gf.Offset != c.off || uintptr(4*i) != c.off {
				t.Errorf("%s.wgsl: Params.%s at WGSL offset %d, Go %s.%s at %d (packed at %d)", name, c.name, c.off, gt.Name(), gf.Name, gf.Offset, 4*i)
			}
		}
		pb, err := paramBytes(k.params)
		if err != nil || len(pb) < int(off) || len(pb)%16 != 0 {
			t.Errorf("%s: params bytes %d (want ≥ %d, multiple of 16): %v", name, len(pb), off, err)
		}
		bs := bindingRE.FindAllStringSubmatch(src, -1)
		if len(bs) != k.inputs+2 {
			t.Errorf("%s.wgsl: %d bindings, registry says %d inputs + output + params", name, len(bs), k.inputs)
			continue
		}
		for i, b := range bs {
			idx, _ := strconv.Atoi(b[1])
			want := "storage, read"
			switch i {
			case k.inputs:
				want = "storage, read_write"
			case k.inputs + 1:
				want = "uniform"
			}
			if idx != i || strings.TrimSpace(b[2]) != want {
				t.Errorf("%s.wgsl: binding %s is var<%s> %s, want @binding(%d) var<%s>", name, b[1], b[2], b[3], i, want)
			}
			if i == k.inputs+1 && b[4] != "Params" {
				t.Errorf("%s.wgsl: the uniform is %s, want Params", name, b[4])
			}
		}
		if !strings.HasPrefix(src, "// "+name+".wgsl:") || !(strings.Contains(src, "Reference: engine/cpu/") || strings.Contains(src, "Reference: engine/imgprep/") || strings.Contains(src, "Reference: engine/erf/")) || !strings.Contains(src, "Dispatch:") {
			t.Errorf("%s.wgsl: header must open with %q and state Reference: engine/cpu/… and Dispatch:", name, "// "+name+".wgsl:")
		}
	}
}

// splitFields splits a struct body at the commas outside <…>.
func splitFields(body string) []string {
	var out []string
	depth, start := 0, 0
	for i, r := range body {
		switch r {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, body[start:i])
				start = i + 1
			}
		}
	}
	return append(out, body[start:])
}

// gradNoKernel lists the ops whose input gradient needs no WGSL file, with the reason.
var gradNoKernel = map[string]string{
	"add": "dL/da = dy: AddGradInput copies dy's buffer (CopyBufferToBuffer)",
}

// cpuFuncs references engine/cpu's forward and gradient of every stem: a missing function fails to
// compile.
var cpuFuncs = map[string][2]any{
	"conv2d":        {cpu.Conv2D, cpu.Conv2DGradInput},
	"dwconv":        {cpu.DWConv, cpu.DWConvGradInput},
	"layernorm":     {cpu.LayerNorm, cpu.LayerNormGradInput},
	"batchnorm":     {cpu.BatchNorm, cpu.BatchNormGradInput},
	"linear":        {cpu.Linear, cpu.LinearGradInput},
	"gelu":          {cpu.GELU, cpu.GELUGradInput},
	"relu":          {cpu.ReLU, cpu.ReLUGradInput},
	"add":           {cpu.Add, cpu.AddGradInput},
	"scaleresidual": {cpu.ScaleResidual, cpu.ScaleResidualGradInput},
	"avgpool":       {cpu.AvgPool, cpu.AvgPoolGradInput},
	"softmax":       {cpu.Softmax, cpu.SoftmaxGradInput},
}

// gpuLaunchers are this package's launchers, named like their CPU twins.
var gpuLaunchers = map[string][2]any{
	"conv2d":        {(*Backend).Conv2D, (*Backend).Conv2DGradInput},
	"dwconv":        {(*Backend).DWConv, (*Backend).DWConvGradInput},
	"layernorm":     {(*Backend).LayerNorm, (*Backend).LayerNormGradInput},
	"batchnorm":     {(*Backend).BatchNorm, (*Backend).BatchNormGradInput},
	"linear":        {(*Backend).Linear, (*Backend).LinearGradInput},
	"gelu":          {(*Backend).GELU, (*Backend).GELUGradInput},
	"relu":          {(*Backend).ReLU, (*Backend).ReLUGradInput},
	"add":           {(*Backend).Add, (*Backend).AddGradInput},
	"scaleresidual": {(*Backend).ScaleResidual, (*Backend).ScaleResidualGradInput},
	"avgpool":       {(*Backend).AvgPool, (*Backend).AvgPoolGradInput},
	"softmax":       {(*Backend).Softmax, (*Backend).SoftmaxGradInput},
}

// TestCompleteness checks that every stem of op.Ops has a CPU function, a WGSL file and a
// registered kernel for each direction (or a stated reason), a GPU launcher, and optest cases.
func TestCompleteness(t *testing.T) {
	cases := map[string]int{}
	for _, c := range optest.Cases() {
		cases[c.Op]++
	}
	for _, stem := range op.Ops {
		if _, ok := cpuFuncs[stem]; !ok {
			t.Errorf("%s: no engine/cpu functions in the table", stem)
		}
		if _, ok := gpuLaunchers[stem]; !ok {
			t.Errorf("%s: no engine/gpu launchers in the table", stem)
		}
		for _, file := range []string{stem, stem + "_grad"} {
			if file == stem+"_grad" && gradNoKernel[stem] != "" {
				if _, err := wgsl.FS.ReadFile(file + ".wgsl"); err == nil {
					t.Errorf("%s: gradNoKernel says no kernel, but %s.wgsl exists", stem, file)
				}
				continue
			}
			if _, err := wgsl.FS.ReadFile(file + ".wgsl"); err != nil {
				t.Errorf("%s: missing wgsl/%s.wgsl", stem, file)
			}
			if _, ok := kernels[file]; !ok {
				t.Errorf("%s: %s is not in the kernel registry", stem, file)
			}
		}
		if cases[stem] == 0 {
			t.Errorf("%s: no optest case", stem)
		}
	}
	if len(cpuFuncs) != len(op.Ops) || len(gpuLaunchers) != len(op.Ops) {
		t.Errorf("tables have %d cpu / %d gpu entries for %d ops", len(cpuFuncs), len(gpuLaunchers), len(op.Ops))
	}
	for stem := range cases {
		if _, ok := cpuFuncs[stem]; !ok {
			t.Errorf("optest has cases for unknown op %s", stem)
		}
	}
}

// TestLazySubmit checks that a chain of ops is one submit, and that freeing intermediates before
// the submit is safe.
func TestLazySubmit(t *testing.T) {
	b := backend(t)
	x, err := b.Upload([]float32{-2, -1, 0, 1, 2, 3, 4}, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(x)
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	before := b.Stats.Submits
	p := op.Elementwise{N: 7}
	cur := x
	for i := 0; i < 5; i++ {
		y, err := b.ReLU(cur, p)
		if err != nil {
			t.Fatal(err)
		}
		z, err := b.Add(y, y, p)
		if err != nil {
			t.Fatal(err)
		}
		b.Free(y)
		if cur != x {
			b.Free(cur)
		}
		cur = z
	}
	got, err := b.Download(cur)
	if err != nil {
		t.Fatal(err)
	}
	b.Free(cur)
	if n := b.Stats.Submits - before; n != 1 {
		t.Errorf("10 ops + download took %d submits, want 1", n)
	}
	want := []float32{0, 0, 0, 32, 64, 96, 128} // relu then doubling, five times
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("chain[%d] = %g, want %g", i, got[i], want[i])
		}
	}
}

// TestLargeDispatchSplit runs an elementwise op over more than 65535·256 elements, which needs a
// 2-D grid.
func TestLargeDispatchSplit(t *testing.T) {
	b := backend(t)
	n := 65535*256 + 1001
	in := make([]float32, n)
	for i := range in {
		in[i] = float32(i%7) - 3
	}
	x, err := b.Upload(in, n)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(x)
	if g := b.grid1D(n, 256); g[1] < 2 {
		t.Fatalf("grid %v does not split", g)
	}
	y, err := b.ReLU(x, op.Elementwise{N: n})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(y)
	got, err := b.Download(y)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if want := max(in[i], 0); v != want {
			t.Fatalf("relu split dispatch: element %d = %g, want %g", i, v, want)
		}
	}
}

// TestBadCalls: every bad call returns an error naming the op, and never aborts the process.
func TestBadCalls(t *testing.T) {
	b := backend(t)
	ref := cpu.NewBackend()
	up := func(n int, shape ...int) op.Tensor {
		t.Helper()
		x, err := b.Upload(make([]float32, n), shape...)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	x := up(3*5*5, 3, 5, 5)
	w := up(4*3*3*3, 4, 3, 3, 3)
	bias := up(4, 4)
	freed := up(4, 4)
	b.Free(freed)
	foreign, _ := ref.Upload(make([]float32, 3*5*5), 3, 5, 5)
	var typedNil *Tensor
	p := op.Conv2D{Cin: 3, H: 5, W: 5, Cout: 4, KH: 3, KW: 3, Stride: 1, PadH: 1, PadW: 1, Bias: true}
	limit := b.Info().Limits.MaxStorageBufferBindingSize
	huge := int(limit/4) + 1
	cases := []struct {
		name, want string
		call       func() (op.Tensor, error)
	}{
		{"shape mismatch", "conv2d", func() (op.Tensor, error) { q := p; q.Cin = 2; return b.Conv2D(x, w, bias, q) }},
		{"weight length", "conv2d", func() (op.Tensor, error) { q := p; q.Cout = 5; return b.Conv2D(x, w, bias, q) }},
		{"bias length", "linear", func() (op.Tensor, error) {
			return b.Linear(x, w, bias, op.Linear{In: 3, Out: 36, HW: 25, Bias: true})
		}},
		{"nil input", "conv2d", func() (op.Tensor, error) { return b.Conv2D(nil, w, bias, p) }},
		{"typed nil input", "conv2d", func() (op.Tensor, error) { return b.Conv2D(typedNil, w, bias, p) }},
		{"nil bias", "conv2d", func() (op.Tensor, error) { return b.Conv2D(x, w, nil, p) }},
		{"foreign tensor", "dwconv", func() (op.Tensor, error) {
			return b.DWConv(foreign, w, nil, op.DWConv{C: 3, H: 5, W: 5, KH: 3, KW: 3, Stride: 1})
		}},
		{"freed tensor", "relu", func() (op.Tensor, error) { return b.ReLU(freed, op.Elementwise{N: 4}) }},
		{"zero size", "gelu", func() (op.Tensor, error) { return b.GELU(x, op.Elementwise{N: 0}) }},
		{"zero-size upload", "upload", func() (op.Tensor, error) { return b.Upload(nil, 0) }},
		{"no shape", "upload", func() (op.Tensor, error) { return b.Upload(nil) }},
		{"data/shape mismatch", "upload", func() (op.Tensor, error) { return b.Upload(make([]float32, 5), 2, 2) }},
		{"output above maxStorageBufferBindingSize", "linear", func() (op.Tensor, error) {
			// Small inputs, but 65536·hw ≥ limit/4 + 1 output values: the output cannot be bound.
			hw := (huge + 65535) / 65536
			in := up(hw, 1, hw)
			defer b.Free(in)
			wt := up(65536, 65536, 1)
			defer b.Free(wt)
			return b.Linear(in, wt, nil, op.Linear{In: 1, Out: 65536, HW: hw})
		}},
		{"upload above limit", "upload", func() (op.Tensor, error) { return b.Upload(nil, huge) }},
		{"bad kernel/padding", "dwconv", func() (op.Tensor, error) {
			return b.DWConv(x, w, nil, op.DWConv{C: 3, H: 5, W: 5, KH: 13, KW: 3, Stride: 1})
		}},
		{"softmax wrong length", "softmax", func() (op.Tensor, error) { return b.Softmax(bias, op.Softmax{N: 5}) }},
		{"grad dy shape", "conv2d_grad", func() (op.Tensor, error) { return b.Conv2DGradInput(x, w, p) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y, err := c.call()
			if err == nil {
				b.Free(y)
				t.Fatalf("%s: no error", c.name)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("%s: error %q does not name %s", c.name, err, c.want)
			}
			t.Logf("%s: %v", c.name, err)
		})
	}
	for _, v := range []op.Tensor{x, w, bias} {
		b.Free(v)
	}
	// The backend still works after the bad calls.
	if err := b.Flush(); err != nil {
		t.Fatalf("flush after bad calls: %v", err)
	}
}

// TestShaderErrors: a shader that fails to compile and a missing substitution are errors naming
// the shader.
func TestShaderErrors(t *testing.T) {
	b := backend(t)
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.pipeline("conv2d", map[string]string{"BIAS": "1.5 +"}); err == nil || !strings.Contains(err.Error(), "conv2d") {
		t.Errorf("invalid WGSL: err = %v, want a compile error naming conv2d", err)
	} else {
		t.Logf("invalid WGSL: %v", err)
	}
	if _, err := b.pipeline("dwconv", nil); err == nil || !strings.Contains(err.Error(), "{{BIAS}}") {
		t.Errorf("missing substitution: err = %v, want one naming {{BIAS}}", err)
	}
	if _, err := b.pipeline("nosuch", nil); err == nil {
		t.Errorf("unregistered shader: no error")
	}
	// A panic inside a launch (here a missing output tensor) comes back as an error naming the shader.
	if err := b.dispatch("relu", "relu", nil, nParams{1}, []*Tensor{nil}, nil, [3]uint32{1, 1, 1}); err == nil || !strings.Contains(err.Error(), "relu.wgsl") {
		t.Errorf("panic in dispatch: err = %v, want an error naming relu.wgsl", err)
	} else {
		t.Logf("recovered: %v", err)
	}
	// The cache: one pipeline per (shader, substitutions).
	p1, err1 := b.pipeline("conv2d", biasSubst(true))
	p2, err2 := b.pipeline("conv2d", biasSubst(true))
	p3, err3 := b.pipeline("conv2d", biasSubst(false))
	if err1 != nil || err2 != nil || err3 != nil || p1 != p2 || p1 == p3 {
		t.Errorf("pipeline cache: %p %p %p (%v %v %v): want the same for equal keys, another for BIAS=false", p1, p2, p3, err1, err2, err3)
	}
}

// TestDeviceLost: after the device is lost every call returns ErrDeviceLost (the app offers Retry).
func TestDeviceLost(t *testing.T) {
	shared := backend(t)
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	x, err := b.Upload([]float32{1, 2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	// A tensor of another gpu Backend is rejected by name.
	other, err := shared.Upload([]float32{1, 2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Free(other)
	if _, err := b.Add(x, other, op.Elementwise{N: 2}); err == nil || !strings.Contains(err.Error(), "another gpu backend") {
		t.Errorf("add with a tensor of another gpu backend: err = %v", err)
	}
	b.SimulateDeviceLoss("test")
	if _, err := b.ReLU(x, op.Elementwise{N: 2}); !errors.Is(err, ErrDeviceLost) || !strings.Contains(err.Error(), "relu") {
		t.Errorf("relu after loss: err = %v, want ErrDeviceLost naming relu", err)
	}
	if _, err := b.Download(x); !errors.Is(err, ErrDeviceLost) {
		t.Errorf("download after loss: err = %v, want ErrDeviceLost", err)
	}
	if _, err := b.Upload([]float32{1}, 1); !errors.Is(err, ErrDeviceLost) {
		t.Errorf("upload after loss: err = %v, want ErrDeviceLost", err)
	}
}

// TestLongSubmit records eight slow direct kernels (SLaK-T's ds1 input gradient, ~1 s each on
// lavapipe) into one submit, so that its completion outlasts wgpu-core's 5 s Poll(wait) timeout,
// then keeps using the device. With Poll(wait) the backend crashed lavapipe's queue thread here
// (SIGSEGV, 2 of 2 runs): wgpu recycled the still-running command buffers. On a fast GPU the
// submit is short and the test only checks the result.
func TestLongSubmit(t *testing.T) {
	b := backend(t)
	p := op.Conv2D{Cin: 124, H: 56, W: 56, Cout: 249, KH: 2, KW: 2, Stride: 2}
	dyv := make([]float32, 249*28*28)
	wv := make([]float32, 249*124*4)
	for i := range dyv {
		dyv[i] = float32(i%13) - 6
	}
	for i := range wv {
		wv[i] = float32(i%7) - 3
	}
	dy, err := b.Upload(dyv, 249, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(dy)
	w, err := b.Upload(wv, 249, 124, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(w)
	start, submits := time.Now(), b.Stats.Submits
	var last op.Tensor
	for i := 0; i < 8; i++ {
		o, err := b.Conv2DGradInput(dy, w, p)
		if err != nil {
			t.Fatal(err)
		}
		b.Free(last)
		last = o
	}
	got, err := b.Download(last)
	b.Free(last)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("8 dispatches, %d submit(s): %v (submits longer than 5 s so far: %d)", b.Stats.Submits-submits, time.Since(start).Round(time.Millisecond), b.Stats.LongWaits)
	want, err := cpu.Conv2DGradInput(dyv, wv, p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want { // integer-valued inputs: every partial sum is exact in f32
		if got[i] != want[i] {
			t.Fatalf("conv2d_grad after a long submit: element %d = %g, want %g", i, got[i], want[i])
		}
	}
	// The device still works, and reuses the recycled command buffers.
	x, err := b.Upload([]float32{-1, 2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(x)
	y, err := b.ReLU(x, op.Elementwise{N: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(y)
	if v, err := b.Download(y); err != nil || v[0] != 0 || v[1] != 2 {
		t.Fatalf("relu after a long submit: %v, %v", v, err)
	}
}
