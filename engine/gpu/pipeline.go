package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"

	"github.com/cogentcore/webgpu/wgpu"

	"github.com/slak-web/slak/wgsl"
)

// kernel describes the bindings of one WGSL file: read-only storage inputs at bindings
// 0..inputs−1, the read_write output at binding inputs, and the Params uniform at the last binding
// (inputs+1). params is the zero value of the Go mirror of the WGSL Params struct; TestParamsLayout
// checks the two agree field by field.
type kernel struct {
	inputs int
	params any
}

// Params mirrors, one per distinct WGSL Params struct. Fields are 4-byte scalars in WGSL order.
type (
	convParams struct {
		Cin, H, W, Cout, KH, KW, Stride, PadH, PadW, OutH, OutW uint32
	}
	dwParams struct {
		C, H, W, KH, KW, Stride, PadH, PadW, OutH, OutW uint32
	}
	normParams struct {
		C, HW uint32
		Eps   float32
	}
	linearParams struct{ NIn, NOut, HW uint32 }
	nParams      struct{ N uint32 }
	chwParams    struct{ C, HW uint32 }
)

// kernels lists every WGSL file the direct backend uses (file = key + ".wgsl").
var kernels = map[string]kernel{
	"conv2d":             {3, convParams{}},
	"conv2d_grad":        {2, convParams{}},
	"dwconv":             {3, dwParams{}},
	"dwconv_grad":        {2, dwParams{}},
	"layernorm":          {3, normParams{}},
	"layernorm_grad":     {3, normParams{}},
	"batchnorm":          {5, normParams{}},
	"batchnorm_grad":     {3, normParams{}},
	"linear":             {3, linearParams{}},
	"linear_grad":        {2, linearParams{}},
	"gelu":               {1, nParams{}},
	"gelu_grad":          {2, nParams{}},
	"relu":               {1, nParams{}},
	"relu_grad":          {2, nParams{}},
	"add":                {2, nParams{}},
	"scaleresidual":      {3, chwParams{}},
	"scaleresidual_grad": {2, chwParams{}},
	"avgpool":            {1, chwParams{}},
	"avgpool_grad":       {1, chwParams{}},
	"softmax":            {1, nParams{}},
	"softmax_grad":       {2, nParams{}},
}

type pipeKey struct{ shader, subst string }

type pipeline struct {
	bgl  *wgpu.BindGroupLayout
	pl   *wgpu.PipelineLayout
	mod  *wgpu.ShaderModule
	cp   *wgpu.ComputePipeline
	kern kernel
}

func (p *pipeline) release() {
	p.cp.Release()
	p.mod.Release()
	p.pl.Release()
	p.bgl.Release()
}

// substKey is the canonical text of a substitution set (sorted NAME=value pairs).
func substKey(subst map[string]string) string {
	keys := make([]string, 0, len(subst))
	for k := range subst {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=%s;", k, subst[k])
	}
	return sb.String()
}

// Source returns the WGSL text of shader with every `//!include lib_NAME` line replaced by the
// text of wgsl/lib_NAME.wgsl (WGSL has no includes; one level, libraries hold shared functions
// such as the erf approximation) and every {{NAME}} replaced by subst[NAME]; a placeholder left
// without a value is an error.
func Source(shader string, subst map[string]string) (string, error) {
	raw, err := wgsl.FS.ReadFile(shader + ".wgsl")
	if err != nil {
		return "", fmt.Errorf("shader %s: %w", shader, err)
	}
	lines := strings.Split(string(raw), "\n")
	for i, l := range lines {
		lib, ok := strings.CutPrefix(strings.TrimSpace(l), "//!include ")
		if !ok {
			continue
		}
		lib = strings.TrimSpace(lib)
		if !strings.HasPrefix(lib, "lib_") {
			return "", fmt.Errorf("shader %s: include %q: only lib_*.wgsl files can be included", shader, lib)
		}
		text, err := wgsl.FS.ReadFile(lib + ".wgsl")
		if err != nil {
			return "", fmt.Errorf("shader %s: include %s: %w", shader, lib, err)
		}
		lines[i] = strings.TrimRight(string(text), "\n")
	}
	src := strings.Join(lines, "\n")
	for k, v := range subst {
		src = strings.ReplaceAll(src, "{{"+k+"}}", v)
	}
	if i := strings.Index(src, "{{"); i >= 0 {
		j := strings.Index(src[i:], "}}")
		if j < 0 {
			j = 0
		}
		return "", fmt.Errorf("shader %s: no value for placeholder %s", shader, src[i:i+j+2])
	}
	return src, nil
}

// pipeline returns the cached compute pipeline for (shader, subst), compiling it on first use with
// an explicit bind-group and pipeline layout (trap 3).
func (b *Backend) pipeline(shader string, subst map[string]string) (*pipeline, error) {
	key := pipeKey{shader, substKey(subst)}
	if p := b.pipes[key]; p != nil {
		return p, nil
	}
	kern, ok := kernels[shader]
	if !ok {
		return nil, fmt.Errorf("shader %s: not registered", shader)
	}
	src, err := Source(shader, subst)
	if err != nil {
		return nil, err
	}
	entries := make([]wgpu.BindGroupLayoutEntry, kern.inputs+2)
	for i := range entries {
		typ := wgpu.BufferBindingTypeReadOnlyStorage
		switch {
		case i == kern.inputs:
			typ = wgpu.BufferBindingTypeStorage
		case i == kern.inputs+1:
			typ = wgpu.BufferBindingTypeUniform
		}
		entries[i] = wgpu.BindGroupLayoutEntry{
			Binding: uint32(i), Visibility: wgpu.ShaderStageCompute,
			Buffer: wgpu.BufferBindingLayout{Type: typ},
		}
	}
	p := &pipeline{kern: kern}
	pushErrorScope()
	p.mod, err = b.dev.CreateShaderModule(&wgpu.ShaderModuleDescriptor{
		Label: shader, WGSLDescriptor: &wgpu.ShaderModuleWGSLDescriptor{Code: src},
	})
	if err != nil {
		_ = popErrorScope()
		return nil, fmt.Errorf("shader %s: compile: %w", shader, err)
	}
	p.bgl, err = b.dev.CreateBindGroupLayout(&wgpu.BindGroupLayoutDescriptor{Label: shader, Entries: entries})
	if err != nil {
		_ = popErrorScope()
		p.mod.Release()
		return nil, fmt.Errorf("shader %s: bind group layout: %w", shader, err)
	}
	p.pl, err = b.dev.CreatePipelineLayout(&wgpu.PipelineLayoutDescriptor{Label: shader, BindGroupLayouts: []*wgpu.BindGroupLayout{p.bgl}})
	if err != nil {
		_ = popErrorScope()
		p.mod.Release()
		p.bgl.Release()
		return nil, fmt.Errorf("shader %s: pipeline layout: %w", shader, err)
	}
	p.cp, err = b.dev.CreateComputePipeline(&wgpu.ComputePipelineDescriptor{
		Layout:  p.pl,
		Compute: wgpu.ProgrammableStageDescriptor{Module: p.mod, EntryPoint: "main"},
	})
	if err == nil {
		err = popErrorScope()
	} else {
		_ = popErrorScope()
	}
	if err != nil {
		p.mod.Release()
		p.pl.Release()
		p.bgl.Release()
		return nil, fmt.Errorf("shader %s: pipeline: %w", shader, err)
	}
	b.pipes[key] = p
	return p, nil
}

// paramBytes serialises a Params mirror (4-byte scalars, WGSL order), padded to 16 bytes.
func paramBytes(params any) ([]byte, error) {
	v := reflect.ValueOf(params)
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("params %T is not a struct", params)
	}
	out := make([]byte, 0, 16*((4*v.NumField()+15)/16))
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Uint32:
			out = binary.LittleEndian.AppendUint32(out, uint32(f.Uint()))
		case reflect.Int32:
			out = binary.LittleEndian.AppendUint32(out, uint32(int32(f.Int())))
		case reflect.Float32:
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(float32(f.Float())))
		default:
			return nil, fmt.Errorf("params %T: field %s has kind %s", params, v.Type().Field(i).Name, f.Kind())
		}
	}
	for len(out)%16 != 0 || len(out) == 0 {
		out = append(out, 0)
	}
	return out, nil
}

// grid1D spreads ⌈n/wg⌉ workgroups over x and y so that neither exceeds the per-dimension limit;
// kernels rebuild the index as gid.x + gid.y·num_workgroups.x·wg.
func (b *Backend) grid1D(n, wg int) [3]uint32 {
	lim := int(b.maxGroups())
	groups := (n + wg - 1) / wg
	gx := min(groups, lim)
	gy := (groups + gx - 1) / gx
	return [3]uint32{uint32(gx), uint32(gy), 1}
}

func (b *Backend) maxGroups() uint32 {
	if l := b.info.Limits.MaxComputeWorkgroupsPerDimension; l > 0 {
		return l
	}
	return 65535
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// dispatch records one compute pass running shader over grid with inputs ins (a nil entry binds the
// dummy buffer: an absent optional input), output out and the Params uniform. Nothing is submitted.
func (b *Backend) dispatch(opName, shader string, subst map[string]string, params any, ins []*Tensor, out *Tensor, grid [3]uint32) (err error) {
	where := fmt.Sprintf("%s (shader %s.wgsl)", opName, shader)
	defer recoverTo(where, &err)
	for i, g := range grid {
		if g == 0 {
			grid[i] = 1 // trap 5: a 0 dimension runs nothing natively but x groups on js
		}
		if g > b.maxGroups() {
			return fmt.Errorf("%s: %d workgroups along dimension %d, above the device limit %d", where, g, i, b.maxGroups())
		}
	}
	p, err := b.pipeline(shader, subst)
	if err != nil {
		return fmt.Errorf("%s: %w", opName, err)
	}
	if len(ins) != p.kern.inputs {
		return fmt.Errorf("%s: %d inputs, the shader binds %d", where, len(ins), p.kern.inputs)
	}
	for i, t := range ins {
		// a half tensor (half.go) binds only where its access was substituted (halfW sets WT)
		// or to the unpack kernel; anywhere else it would be read as f32 garbage
		if t != nil && t.half && shader != "half_unpack" && subst["WT"] == "" {
			return fmt.Errorf("%s: input %d is a half tensor, which this shader reads as f32 (use Backend.arg, or halfW's substitutions)", where, i)
		}
	}
	pb, err := paramBytes(params)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	ub, err := b.dev.CreateBufferInit(&wgpu.BufferInitDescriptor{Label: shader + " params", Contents: pb, Usage: wgpu.BufferUsageUniform})
	if err != nil {
		return fmt.Errorf("%s: params buffer: %w", where, err)
	}
	b.deferred = append(b.deferred, func() { ub.Destroy(); ub.Release() })
	entries := make([]wgpu.BindGroupEntry, 0, len(ins)+2)
	for i, t := range ins {
		if t == nil {
			entries = append(entries, wgpu.BindGroupEntry{Binding: uint32(i), Buffer: b.dummy, Size: 16})
			continue
		}
		entries = append(entries, wgpu.BindGroupEntry{Binding: uint32(i), Buffer: t.buf, Size: t.size})
	}
	entries = append(entries,
		wgpu.BindGroupEntry{Binding: uint32(len(ins)), Buffer: out.buf, Size: out.size},
		wgpu.BindGroupEntry{Binding: uint32(len(ins) + 1), Buffer: ub, Size: uint64(len(pb))})
	for _, e := range entries {
		if e.Size == 0 { // trap 5: a zero-size binding aborts the native process
			return fmt.Errorf("%s: binding %d has size 0", where, e.Binding)
		}
	}
	pushErrorScope()
	bg, err := b.dev.CreateBindGroup(&wgpu.BindGroupDescriptor{Label: shader, Layout: p.bgl, Entries: entries})
	if perr := popErrorScope(); err == nil {
		err = perr
	}
	if err != nil {
		return fmt.Errorf("%s: bind group: %w", where, err)
	}
	b.deferred = append(b.deferred, bg.Release)
	enc, err := b.encoder()
	if err != nil {
		return fmt.Errorf("%s: command encoder: %w", where, err)
	}
	pass := enc.BeginComputePass(&wgpu.ComputePassDescriptor{})
	pass.SetPipeline(p.cp)
	pass.SetBindGroup(0, bg, nil)
	pass.DispatchWorkgroups(grid[0], grid[1], grid[2])
	err = endPass(pass)
	pass.Release()
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	b.recorded++
	b.Stats.Dispatches++
	return nil
}

// run allocates the output tensor of shape outShape, records the dispatch and returns the output
// (freed again on error).
func (b *Backend) run(opName, shader string, subst map[string]string, params any, ins []*Tensor, grid [3]uint32, outShape ...int) (*Tensor, error) {
	out, err := b.newTensor(opName, outShape...)
	if err != nil {
		return nil, err
	}
	if err := b.dispatch(opName, shader, subst, params, ins, out, grid); err != nil {
		b.deferred = append(b.deferred, func() { b.destroy(out) })
		if b.enc == nil {
			b.destroy(out)
			b.deferred = b.deferred[:len(b.deferred)-1]
		}
		return nil, err
	}
	return out, nil
}

func biasSubst(bias bool) map[string]string {
	if bias {
		return map[string]string{"BIAS": "true"}
	}
	return map[string]string{"BIAS": "false"}
}
