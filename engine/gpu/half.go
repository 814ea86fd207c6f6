package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/cogentcore/webgpu/wgpu"

	"github.com/slak-web/slak/engine/op"
)

// Half tensors (issue 6, item 6): weights from an F16 model file stay binary16 on the device,
// packed two per u32 (element i in the low half of word i/2 when i is even, the high half when
// odd: little-endian, what unpack2x16float reads), the buffer rounded up to 16 bytes (8 halves,
// so it can be bound as array<vec4<f16>> and array<vec2<u32>> whatever the length). They take
// half the memory of float32. Values are the exact widening v = float32(binary16): every
// binary16 value, subnormals included, is a float32 value, and unpack2x16float / f32(f16) widen
// exactly.
//
// Who reads them: the GEMM kernels (wgsl/matmul_fast_v4.wgsl for pointwise layers,
// wgsl/matmul_fast.wgsl for the im2col convolutions, wgsl/linear.wgsl for the direct Linear)
// take the weight binding's element type and access expressions by substitution (halfAccess):
// u32 words with unpack2x16float, or, when the device has shader-f16 and HalfNative is on,
// array<f16> / array<vec4<f16>> under `enable f16;`. Every other kernel (the direct conv2d,
// the gradients, depthwise, anything a half tensor may reach) gets a float32 expansion made on
// the device by wgsl/half_unpack.wgsl (Backend.arg), destroyed after the submit that uses it.
// Download widens on the host.

var _ op.HalfUploader = (*Backend)(nil)

// HalfKernels lets the GEMM kernels read half weights directly. Off, they run on a float32
// expansion made on first use and cached with the tensor (freed with it; the memory of float32
// plus half): the A/B baseline of engine/bench (-ab half), the same kernel on the same values.
var HalfKernels = true

// HalfNative binds half weights as array<f16> (WGSL `enable f16;`) when the device has the
// shader-f16 feature and a shader with it compiles; off, or where either fails, the u32 words
// are widened with unpack2x16float. See Backend.HalfNativeStatus.
var HalfNative = true

// Memory is what the live tensors of a Backend hold on the device.
type Memory struct {
	Tensors     int    // live tensors, float32 and half (cached expansions included)
	Bytes       uint64 // their buffer bytes
	HalfTensors int    // live half tensors (UploadF16)
	HalfBytes   uint64 // their buffer bytes (2 per value, rounded up to 16)
}

func (m *Memory) add(bytes uint64, half bool, sign int) {
	m.Tensors += sign
	if sign > 0 {
		m.Bytes += bytes
	} else {
		m.Bytes -= bytes
	}
	if half {
		m.HalfTensors += sign
		if sign > 0 {
			m.HalfBytes += bytes
		} else {
			m.HalfBytes -= bytes
		}
	}
}

// Memory reports the device memory of the live tensors (freed tensors count until the submit
// after which they are destroyed).
func (b *Backend) Memory() Memory {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.mem
}

// HalfBytes is the buffer size of a half tensor of n values: 2n rounded up to 16 bytes.
func HalfBytes(n int) uint64 { return uint64((n+7)/8) * 16 }

// UploadF16 implements op.HalfUploader: bits (binary16, one per value) become a half tensor of
// the given shape, 2 bytes per value on the device.
func (b *Backend) UploadF16(bits []uint16, shape ...int) (_ op.Tensor, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer recoverTo("upload f16 (is globalThis.wasm set? ENGINE.md trap 1)", &err)
	const name = "uploadf16"
	if err := b.alive(name); err != nil {
		return nil, err
	}
	n, err := shapeLen(name, shape)
	if err != nil {
		return nil, err
	}
	if len(bits) != n {
		return nil, fmt.Errorf("%s: %w: %d values for shape %v (%d elements)", name, op.ErrShape, len(bits), shape, n)
	}
	size := HalfBytes(n)
	if _, err := b.checkSize(name, "tensor", int(size/4)); err != nil {
		return nil, err
	}
	buf, err := b.dev.CreateBuffer(&wgpu.BufferDescriptor{
		Label: name, Usage: wgpu.BufferUsageStorage | wgpu.BufferUsageCopySrc | wgpu.BufferUsageCopyDst, Size: size,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: create buffer of %d bytes: %w", name, size, err)
	}
	b.mem.add(size, true, 1)
	t := &Tensor{b: b, buf: buf, shape: append([]int(nil), shape...), n: n, size: size, half: true}
	raw := make([]byte, size) // the padding stays zero (+0.0)
	for i, h := range bits {
		binary.LittleEndian.PutUint16(raw[2*i:], h)
	}
	if err := b.queue.WriteBuffer(buf, 0, raw); err != nil {
		b.destroy(t)
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// shapeLen checks a shape as newTensor does and returns its element count.
func shapeLen(opName string, shape []int) (int, error) {
	if len(shape) == 0 {
		return 0, fmt.Errorf("%s: %w: empty shape", opName, op.ErrShape)
	}
	n := 1
	for _, d := range shape {
		if d <= 0 {
			return 0, fmt.Errorf("%s: %w: shape %v has a dimension ≤ 0", opName, op.ErrShape, shape)
		}
		if n > math.MaxInt32/d {
			return 0, fmt.Errorf("%s: %w: shape %v is too large", opName, op.ErrShape, shape)
		}
		n *= d
	}
	return n, nil
}

// IsHalf reports whether t is a half tensor of this package (UploadF16).
func IsHalf(t op.Tensor) bool {
	h, ok := t.(*Tensor)
	return ok && h != nil && h.half
}

// expand returns the float32 expansion of half tensor t (b.mu held): the cached one if there
// is one, else a new one recorded with half_unpack.wgsl and destroyed after the next submit.
func (b *Backend) expand(opName string, t *Tensor) (*Tensor, error) {
	if t.exp != nil {
		return t.exp, nil
	}
	e, err := b.unpack(opName, t)
	if err != nil {
		return nil, err
	}
	b.deferred = append(b.deferred, func() { b.destroy(e) })
	return e, nil
}

// expandKeep is expand that caches the expansion with t (freed with it).
func (b *Backend) expandKeep(opName string, t *Tensor) (*Tensor, error) {
	if t.exp != nil {
		return t.exp, nil
	}
	e, err := b.unpack(opName, t)
	if err != nil {
		return nil, err
	}
	t.exp = e
	return e, nil
}

func (b *Backend) unpack(opName string, t *Tensor) (*Tensor, error) {
	words := (t.n + 1) / 2
	return b.run(opName, "half_unpack", nil, nParams{u(t.n)}, []*Tensor{t}, b.grid1D(words, 256), t.shape...)
}

// halfW is how a GEMM kernel binds and reads its weight tensor w (b.mu held): for a float32
// tensor (nil for a half one, which then reads as it is) the tensor to bind, and the
// substitutions WT (the element type of the binding), W1 (expression of f32 element i), W4
// (when vec: the vec4<f32> at index i4, elements 4·i4..4·i4+3) and ENABLE (the directives).
// arr is the binding's name in the shader.
func (b *Backend) halfW(opName string, w *Tensor, arr string, vec bool) (*Tensor, map[string]string, error) {
	s := map[string]string{"ENABLE": ""}
	if w.half && !HalfKernels {
		e, err := b.expandKeep(opName, w)
		if err != nil {
			return nil, nil, err
		}
		w = e
	}
	switch {
	case !w.half && vec:
		s["WT"], s["W1"], s["W4"] = "vec4<f32>", arr+"[i / 4u][i % 4u]", arr+"[i4]"
	case !w.half:
		s["WT"], s["W1"] = "f32", arr+"[i]"
		s["W4"] = "vec4<f32>(" + arr + "[4u * i4], " + arr + "[4u * i4 + 1u], " + arr + "[4u * i4 + 2u], " + arr + "[4u * i4 + 3u])"
	case b.halfNative() && vec:
		s["ENABLE"] = "enable f16;"
		s["WT"], s["W1"], s["W4"] = "vec4<f16>", "f32("+arr+"[i / 4u][i % 4u])", "vec4<f32>("+arr+"[i4])"
	case b.halfNative():
		s["ENABLE"] = "enable f16;"
		s["WT"], s["W1"] = "f16", "f32("+arr+"[i])"
		s["W4"] = "vec4<f32>(f32(" + arr + "[4u * i4]), f32(" + arr + "[4u * i4 + 1u]), f32(" + arr + "[4u * i4 + 2u]), f32(" + arr + "[4u * i4 + 3u]))"
	case vec: // vec2<u32>: element i is half (i / 2) % 2 of word i / 4 of the pair
		s["WT"], s["W1"] = "vec2<u32>", "unpack2x16float("+arr+"[i / 4u][(i / 2u) % 2u])[i % 2u]"
		s["W4"] = "vec4<f32>(unpack2x16float(" + arr + "[i4].x), unpack2x16float(" + arr + "[i4].y))"
	default:
		s["WT"], s["W1"] = "u32", "unpack2x16float("+arr+"[i / 2u])[i % 2u]"
		s["W4"] = "vec4<f32>(unpack2x16float(" + arr + "[2u * i4]), unpack2x16float(" + arr + "[2u * i4 + 1u]))"
	}
	return w, s, nil
}

// halfNative reports whether half weights bind as f16 (b.mu held).
func (b *Backend) halfNative() bool {
	return HalfNative && slices.Contains(b.info.Features, "shader-f16") && b.probeF16()
}

// f16Probe is the smallest shader that needs the f16 extension.
const f16Probe = "enable f16;\n@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n" +
	"@compute @workgroup_size(1) fn main() { let h = vec2<f16>(1.0h, 2.0h); y[0] = f32(h.x + h.y); }\n"

// probeF16 compiles f16Probe once (b.mu held) and reports whether the device took it; the
// error is kept for HalfNativeStatus. (The native naga of wgpu-native v0.23 rejects the
// `enable` directive even where the adapter has shader-f16, e.g. lavapipe.)
func (b *Backend) probeF16() (ok bool) {
	if b.f16Probed {
		return b.f16Err == ""
	}
	b.f16Probed = true
	defer func() {
		if r := recover(); r != nil {
			b.f16Err, ok = fmt.Sprint("binding panicked: ", r), false
		}
	}()
	pushErrorScope()
	mod, err := b.dev.CreateShaderModule(&wgpu.ShaderModuleDescriptor{
		Label: "f16 probe", WGSLDescriptor: &wgpu.ShaderModuleWGSLDescriptor{Code: f16Probe},
	})
	if perr := popErrorScope(); err == nil {
		err = perr
	}
	if err != nil {
		b.f16Err = err.Error()
		return false
	}
	mod.Release()
	return true
}

// HalfNativeStatus says whether half weights are read as f16 (shader-f16) on this backend, and
// why not when they are not (compiling a small f16 shader on the first call).
func (b *Backend) HalfNativeStatus() (bool, string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !slices.Contains(b.info.Features, "shader-f16"):
		return false, "the device has no shader-f16 feature"
	case !b.probeF16() || b.f16Err != "":
		return false, "a shader with `enable f16;` failed: " + b.f16Err
	case !HalfNative:
		return false, "gpu.HalfNative is off"
	}
	return true, ""
}

// runHalf is run for a GEMM shader whose substitutions may hold `enable f16;`: if the device
// rejects that shader (the native naga of wgpu-native v0.23 may not know the directive), f16 is
// switched off for this backend (HalfNativeStatus tells why) and the caller retries with the
// u32 variant.
func (b *Backend) runHalf(opName, shader string, subst map[string]string, params any, ins []*Tensor, grid [3]uint32, outShape ...int) (*Tensor, bool, error) {
	y, err := b.run(opName, shader, subst, params, ins, grid, outShape...)
	if err != nil && subst["ENABLE"] != "" && strings.Contains(err.Error(), "shader "+shader+":") {
		b.f16Err = err.Error()
		return nil, true, nil
	}
	return y, false, err
}

func init() { kernels["half_unpack"] = kernel{1, nParams{}} }
