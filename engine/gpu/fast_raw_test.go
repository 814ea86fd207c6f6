//go:build !js

package gpu

// A raw wgpu harness for the fast kernels, independent of the backend's device code, so the
// kernels can be checked and timed on lavapipe on their own: go test -run FastRaw -v ./engine/gpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cogentcore/webgpu/wgpu"
	"github.com/slak-web/slak/engine/op"
	"github.com/slak-web/slak/wgsl"
)

type rawDev struct {
	dev   *wgpu.Device
	queue *wgpu.Queue
	name  string
	pipes map[string]rawPipe
}

type rawPipe struct {
	p   *wgpu.ComputePipeline
	bgl *wgpu.BindGroupLayout
}

func newRawDev(t testing.TB) *rawDev {
	inst := wgpu.CreateInstance(nil)
	ad, err := inst.RequestAdapter(nil)
	if err != nil {
		t.Skipf("no WebGPU adapter: %v", err)
	}
	dev, err := ad.RequestDevice(nil)
	if err != nil {
		t.Skipf("no device: %v", err)
	}
	return &rawDev{dev: dev, queue: dev.GetQueue(), name: ad.GetInfo().Name, pipes: map[string]rawPipe{}}
}

// pipe compiles shader file with {{KEY}} substitutions; layout has one letter per binding:
// r read-only storage, w read-write storage, u uniform.
func (d *rawDev) pipe(t testing.TB, file string, subst map[string]string, layout string) rawPipe {
	keys := make([]string, 0, len(subst))
	for k := range subst {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	key := file + layout
	src0, err := wgsl.FS.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	src := string(src0)
	for _, k := range keys {
		key += "|" + k + "=" + subst[k]
		src = strings.ReplaceAll(src, "{{"+k+"}}", subst[k])
	}
	if p, ok := d.pipes[key]; ok {
		return p
	}
	mod, err := d.dev.CreateShaderModule(&wgpu.ShaderModuleDescriptor{Label: file, WGSLDescriptor: &wgpu.ShaderModuleWGSLDescriptor{Code: src}})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var ents []wgpu.BindGroupLayoutEntry
	for i, c := range layout {
		ty := map[rune]wgpu.BufferBindingType{'r': wgpu.BufferBindingTypeReadOnlyStorage, 'w': wgpu.BufferBindingTypeStorage, 'u': wgpu.BufferBindingTypeUniform}[c]
		ents = append(ents, wgpu.BindGroupLayoutEntry{Binding: uint32(i), Visibility: wgpu.ShaderStageCompute, Buffer: wgpu.BufferBindingLayout{Type: ty}})
	}
	bgl, err := d.dev.CreateBindGroupLayout(&wgpu.BindGroupLayoutDescriptor{Entries: ents})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := d.dev.CreatePipelineLayout(&wgpu.PipelineLayoutDescriptor{BindGroupLayouts: []*wgpu.BindGroupLayout{bgl}})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := d.dev.CreateComputePipeline(&wgpu.ComputePipelineDescriptor{Label: file, Layout: pl, Compute: wgpu.ProgrammableStageDescriptor{Module: mod, EntryPoint: "main"}})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	p := rawPipe{cp, bgl}
	d.pipes[key] = p
	return p
}

func (d *rawDev) buf(t testing.TB, data []float32) *wgpu.Buffer {
	if len(data) == 0 {
		data = []float32{0}
	}
	b, err := d.dev.CreateBufferInit(&wgpu.BufferInitDescriptor{Contents: wgpu.ToBytes(data), Usage: wgpu.BufferUsageStorage | wgpu.BufferUsageCopySrc | wgpu.BufferUsageCopyDst})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (d *rawDev) uni(t testing.TB, data []byte) *wgpu.Buffer {
	b, err := d.dev.CreateBufferInit(&wgpu.BufferInitDescriptor{Contents: data, Usage: wgpu.BufferUsageUniform | wgpu.BufferUsageCopyDst})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type rawCall struct {
	p          rawPipe
	bufs       []*wgpu.Buffer
	gx, gy, gz int
}

// run records the calls in one command buffer, submits it and waits for completion.
func (d *rawDev) run(t testing.TB, calls ...rawCall) {
	enc, err := d.dev.CreateCommandEncoder(nil)
	if err != nil {
		t.Fatal(err)
	}
	pass := enc.BeginComputePass(nil)
	for _, c := range calls {
		var ents []wgpu.BindGroupEntry
		for i, b := range c.bufs {
			ents = append(ents, wgpu.BindGroupEntry{Binding: uint32(i), Buffer: b, Size: wgpu.WholeSize})
		}
		bg, err := d.dev.CreateBindGroup(&wgpu.BindGroupDescriptor{Layout: c.p.bgl, Entries: ents})
		if err != nil {
			t.Fatal(err)
		}
		pass.SetPipeline(c.p.p)
		pass.SetBindGroup(0, bg, nil)
		pass.DispatchWorkgroups(uint32(c.gx), uint32(max(c.gy, 1)), uint32(max(c.gz, 1)))
	}
	pass.End()
	pass.Release()
	cb, err := enc.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	d.queue.Submit(cb)
	d.dev.Poll(true, nil)
}

func (d *rawDev) read(t testing.TB, b *wgpu.Buffer, n int) []float32 {
	size := uint64(4 * n)
	st, err := d.dev.CreateBuffer(&wgpu.BufferDescriptor{Size: size, Usage: wgpu.BufferUsageMapRead | wgpu.BufferUsageCopyDst})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	enc, _ := d.dev.CreateCommandEncoder(nil)
	enc.CopyBufferToBuffer(b, 0, st, 0, size)
	cb, _ := enc.Finish(nil)
	d.queue.Submit(cb)
	done := false
	if err := st.MapAsync(wgpu.MapModeRead, 0, size, func(wgpu.BufferMapAsyncStatus) { done = true }); err != nil {
		t.Fatal(err)
	}
	for !done {
		d.dev.Poll(true, nil)
	}
	out := append([]float32(nil), wgpu.FromBytes[float32](st.GetMappedRange(0, uint(size)))...)
	st.Unmap()
	return out
}

// timeMs runs f reps times after one warm-up and returns the median and min in ms.
func timeMs(reps int, f func()) (med, mn float64) {
	f()
	ts := make([]float64, reps)
	for i := range ts {
		t0 := time.Now()
		f()
		ts[i] = float64(time.Since(t0).Microseconds()) / 1000
	}
	sort.Float64s(ts)
	return ts[reps/2], ts[0]
}

func randn(r *rand.Rand, n int, scale float32) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64()) * scale
	}
	return v
}

// refDWSum is the naive sum of depthwise branches (float64 accumulation), the check for
// dwconv_fast.wgsl: y[c,oy,ox] = bias[c] + Σ_b Σ_{ky,kx} w_b[c,ky,kx]·x[c,oy+ky−PH_b,ox+kx−PW_b].
func refDWSum(x []float32, ws [][]float32, bias []float32, ps []op.DWConv) []float32 {
	p0 := ps[0]
	oh, ow := p0.OutH(), p0.OutW()
	y := make([]float32, p0.C*oh*ow) // [C, OH, OW]
	for c := 0; c < p0.C; c++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				s := 0.0
				if bias != nil {
					s = float64(bias[c])
				}
				for b, p := range ps {
					for ky := 0; ky < p.KH; ky++ {
						for kx := 0; kx < p.KW; kx++ {
							iy, ix := oy+ky-p.PadH, ox+kx-p.PadW
							if iy >= 0 && iy < p.H && ix >= 0 && ix < p.W {
								s += float64(ws[b][(c*p.KH+ky)*p.KW+kx]) * float64(x[(c*p.H+iy)*p.W+ix])
							}
						}
					}
				}
				y[(c*oh+oy)*ow+ox] = float32(s)
			}
		}
	}
	return y
}

// compare fails on the first element outside atol + rtol·|want| and names it.
func compare(t testing.TB, what string, got, want []float32, atol, rtol float64) {
	t.Helper()
	if len(got) < len(want) {
		t.Fatalf("%s: got %d elements, want %d", what, len(got), len(want))
	}
	maxErr := 0.0
	for i := range want {
		e := math.Abs(float64(got[i]) - float64(want[i]))
		maxErr = max(maxErr, e)
		if !(e <= atol+rtol*math.Abs(float64(want[i]))) {
			t.Fatalf("%s: index %d: got %g, want %g (err %g)", what, i, got[i], want[i], e)
		}
	}
	t.Logf("%s: ok, max abs err %.3g", what, maxErr)
}

func slakBranches(c, h, k int) []op.DWConv {
	return []op.DWConv{
		{C: c, H: h, W: h, KH: k, KW: 5, Stride: 1, PadH: k / 2, PadW: 2},
		{C: c, H: h, W: h, KH: 5, KW: k, Stride: 1, PadH: 2, PadW: k / 2},
		{C: c, H: h, W: h, KH: 5, KW: 5, Stride: 1, PadH: 2, PadW: 2},
	}
}

func (d *rawDev) dwFast(t testing.TB, x *wgpu.Buffer, ws []*wgpu.Buffer, bias *wgpu.Buffer, ps []op.DWConv) (*wgpu.Buffer, func()) {
	pl, ok := planDWFast(ps, bias != nil)
	if !ok {
		t.Fatalf("planDWFast refused %+v", ps)
	}
	pp := d.pipe(t, "dwconv_fast.wgsl", map[string]string{"SMEM": fmt.Sprint(fastDWSmem)}, "rrrrrwu")
	y := d.buf(t, make([]float32, pl.C*pl.OH*pl.OW))
	w3 := []*wgpu.Buffer{ws[0], ws[0], ws[0]}
	copy(w3, ws)
	if bias == nil {
		bias = ws[0]
	}
	u := d.uni(t, pl.Params)
	call := rawCall{pp, []*wgpu.Buffer{x, w3[0], w3[1], w3[2], bias, y, u}, pl.C, pl.Bands, 1}
	return y, func() { d.run(t, call) }
}

func TestFastRawDWConv(t *testing.T) {
	d := newRawDev(t)
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name string
		ps   []op.DWConv
		bias bool
	}{
		{"slak_t_s0_sum_c3", slakBranches(3, 56, 51), true},
		{"slak_t_s1_sum_c5", slakBranches(5, 28, 49), true},
		{"slak_t_s3_sum_c4", slakBranches(4, 7, 13), false},
		{"odd_17x23_k9x3", []op.DWConv{{C: 3, H: 17, W: 23, KH: 9, KW: 3, Stride: 1, PadH: 4, PadW: 1}}, true},
		{"kernel_larger_than_map_k31_on_9", slakBranches(2, 9, 31), true},
		{"bands_120x70_k15", []op.DWConv{{C: 2, H: 120, W: 70, KH: 15, KW: 5, Stride: 1, PadH: 7, PadW: 2}, {C: 2, H: 120, W: 70, KH: 5, KW: 15, Stride: 1, PadH: 2, PadW: 7}}, true},
		{"asym_pad_7x7_p1", []op.DWConv{{C: 2, H: 13, W: 11, KH: 7, KW: 7, Stride: 1, PadH: 1, PadW: 3}}, true},
	}
	for _, tc := range cases {
		p0 := tc.ps[0]
		x := randn(r, p0.C*p0.H*p0.W, 1)
		var ws [][]float32
		var wb []*wgpu.Buffer
		for _, p := range tc.ps {
			w := randn(r, p.C*p.KH*p.KW, 0.1)
			ws = append(ws, w)
			wb = append(wb, d.buf(t, w))
		}
		var bias []float32
		var bb *wgpu.Buffer
		if tc.bias {
			bias = randn(r, p0.C, 1)
			bb = d.buf(t, bias)
		}
		yb, f := d.dwFast(t, d.buf(t, x), wb, bb, tc.ps)
		f()
		want := refDWSum(x, ws, bias, tc.ps)
		// f32 sums of ≤ 535 products of O(0.1)·O(1) terms against a float64 reference:
		// a few hundred ulps of the sum's magnitude (~3) at most.
		compare(t, "dwconv_fast "+tc.name, d.read(t, yb, len(want)), want, 1e-4, 1e-4)
	}
}
