package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cogentcore/webgpu/wgpu"

	"github.com/slak-web/slak/engine/op"
)

var _ op.Backend = (*Backend)(nil)

// Backend runs every op of op.Backend on a WebGPU device. It is safe for use by one goroutine at a
// time (a mutex serialises calls); in the browser use it from the engine goroutine only.
type Backend struct {
	mu    sync.Mutex
	dev   *wgpu.Device
	queue *wgpu.Queue
	info  Info
	lost  atomic.Pointer[string]

	pipes map[pipeKey]*pipeline
	dummy *wgpu.Buffer // 16 zero bytes bound where an optional input (bias) is absent

	enc      *wgpu.CommandEncoder // open encoder with recorded, unsubmitted work (nil when none)
	recorded int                  // dispatches and copies in enc
	deferred []func()             // releases to run once enc is submitted (bind groups, uniforms, freed tensors)
	closed   bool

	// Direct forces the direct kernels (one thread per output) even where a fast kernel exists: the
	// baseline of benchmarks and a second path for the conformance suite.
	Direct bool

	// WaitOnFlush makes Flush wait until the queue has finished in the browser too
	// (queue.onSubmittedWorkDone); natively Flush always waits. Off by default: the browser's
	// queue orders the work and a readback waits for it. The in-browser benchmark sets it, so
	// that a Flush-timed sample measures the GPU work.
	WaitOnFlush bool

	// Stats counts submits and dispatches (for tests and benchmarks), and the submits that took
	// longer than wgpu's 5 s Poll(wait) timeout to complete (see waitIdle; native only).
	Stats struct{ Submits, Dispatches, LongWaits int }

	mem       Memory // live tensors (half.go)
	f16Err    string // why shaders with `enable f16;` are not used on this device ("" when they may be)
	f16Probed bool   // probeF16 ran

	// matmul_sg.wgsl on this device (matmul_sg.go): why it is not used after the device rejected
	// it; per configuration, why that one is not used after the tuner's on-device check found it
	// disagreeing with the static GEMM (the others stay); its dispatches (tests check it ran).
	sgErr   string
	sgWrong map[sgVariant]string
	sgRuns  int
}

// Tensor is a float32 tensor in a storage buffer owned by one Backend, or a half tensor
// (UploadF16: binary16 packed two per u32, see half.go).
type Tensor struct {
	b     *Backend
	buf   *wgpu.Buffer
	shape []int
	n     int
	size  uint64 // bytes of buf: 4n, or for a half tensor 2n rounded up to 16
	half  bool
	exp   *Tensor // a half tensor's cached float32 expansion (HalfKernels = false), or nil
	freed bool
}

func (t *Tensor) Shape() []int { return append([]int(nil), t.shape...) }
func (t *Tensor) Len() int     { return t.n }

// New opens the default adapter and a device on it. It returns an error wrapping ErrNoAdapter when
// there is none.
func New() (*Backend, error) {
	b := &Backend{pipes: map[pipeKey]*pipeline{}}
	dev, info, err := openDevice(&b.lost)
	if err != nil {
		return nil, err
	}
	b.dev, b.info, b.queue = dev, info, dev.GetQueue()
	b.dummy, err = dev.CreateBufferInit(&wgpu.BufferInitDescriptor{
		Label: "dummy", Contents: make([]byte, 16), Usage: wgpu.BufferUsageStorage | wgpu.BufferUsageUniform,
	})
	if err != nil {
		return nil, fmt.Errorf("gpu: dummy buffer: %w", err)
	}
	return b, nil
}

// Name implements op.Backend.
func (b *Backend) Name() string { return "gpu" }

// Info describes the adapter and device.
func (b *Backend) Info() Info { return b.info }

// Close submits pending work, releases every pipeline and the device. Tensors must not be used
// afterwards.
func (b *Backend) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	_ = b.flushLocked()
	for _, p := range b.pipes {
		p.release()
	}
	b.pipes = nil
	b.dummy.Destroy()
	b.dummy.Release()
	b.closed = true
	b.dev.Release()
}

// alive reports a closed backend or a lost device.
func (b *Backend) alive(opName string) error {
	if b.closed {
		return fmt.Errorf("%s: gpu backend is closed", opName)
	}
	if m := b.lost.Load(); m != nil {
		return fmt.Errorf("%s: %w (%s)", opName, ErrDeviceLost, *m)
	}
	return nil
}

// noteLost marks the device lost when a binding error says so (natively there is no device-lost
// callback, see openDevice).
func (b *Backend) noteLost(err error) {
	if err != nil && b.lost.Load() == nil {
		if m := strings.ToLower(err.Error()); strings.Contains(m, "device lost") || strings.Contains(m, "devicelost") || strings.Contains(m, "device is lost") {
			msg := err.Error()
			b.lost.Store(&msg)
		}
	}
}

// SimulateDeviceLoss marks the device lost, as the device-lost callback does, so that an
// application's Retry path can be tested.
func (b *Backend) SimulateDeviceLoss(msg string) { b.lost.Store(&msg) }

// checkSize reports a tensor of n float32 that the device cannot hold or bind.
func (b *Backend) checkSize(opName, what string, n int) (uint64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("%s: %w: %s has %d elements, want > 0", opName, op.ErrShape, what, n)
	}
	bytes := uint64(n) * 4
	if l := b.info.Limits.MaxStorageBufferBindingSize; l > 0 && bytes > l {
		return 0, fmt.Errorf("%s: %w: %s needs %d bytes, above the device's maxStorageBufferBindingSize %d", opName, op.ErrShape, what, bytes, l)
	}
	if l := b.info.Limits.MaxBufferSize; l > 0 && bytes > l {
		return 0, fmt.Errorf("%s: %w: %s needs %d bytes, above the device's maxBufferSize %d", opName, op.ErrShape, what, bytes, l)
	}
	return bytes, nil
}

// newTensor allocates an uninitialised storage tensor.
func (b *Backend) newTensor(opName string, shape ...int) (*Tensor, error) {
	n := 1
	for _, d := range shape {
		if d <= 0 {
			return nil, fmt.Errorf("%s: %w: shape %v has a dimension ≤ 0", opName, op.ErrShape, shape)
		}
		if n > math.MaxInt32/d {
			return nil, fmt.Errorf("%s: %w: shape %v is too large", opName, op.ErrShape, shape)
		}
		n *= d
	}
	if len(shape) == 0 {
		return nil, fmt.Errorf("%s: %w: empty shape", opName, op.ErrShape)
	}
	bytes, err := b.checkSize(opName, "tensor", n)
	if err != nil {
		return nil, err
	}
	buf, err := b.dev.CreateBuffer(&wgpu.BufferDescriptor{
		Label: opName,
		Usage: wgpu.BufferUsageStorage | wgpu.BufferUsageCopySrc | wgpu.BufferUsageCopyDst,
		Size:  bytes,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: create buffer of %d bytes: %w", opName, bytes, err)
	}
	b.mem.add(bytes, false, 1)
	return &Tensor{b: b, buf: buf, shape: append([]int(nil), shape...), n: n, size: bytes}, nil
}

// Upload implements op.Backend: it copies data into a new storage tensor of the given shape.
func (b *Backend) Upload(data []float32, shape ...int) (_ op.Tensor, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// In the browser WriteBuffer needs globalThis.wasm (ENGINE.md trap 1), else it panics.
	defer recoverTo("upload (is globalThis.wasm set? ENGINE.md trap 1)", &err)
	if err := b.alive("upload"); err != nil {
		return nil, err
	}
	t, err := b.newTensor("upload", shape...)
	if err != nil {
		return nil, err
	}
	if len(data) != t.n {
		b.destroy(t)
		return nil, fmt.Errorf("upload: %w: %d values for shape %v (%d elements)", op.ErrShape, len(data), shape, t.n)
	}
	if err := b.queue.WriteBuffer(t.buf, 0, f32bytes(data)); err != nil {
		b.destroy(t)
		return nil, fmt.Errorf("upload: %w", err)
	}
	return t, nil
}

// Download implements op.Backend: it submits pending work and reads t back through a MAP_READ
// staging buffer.
func (b *Backend) Download(x op.Tensor) (_ []float32, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer recoverTo("download", &err)
	t, err := b.tensor("download", "x", x)
	if err != nil {
		return nil, err
	}
	bytes := t.size
	staging, err := b.dev.CreateBuffer(&wgpu.BufferDescriptor{
		Label: "download", Usage: wgpu.BufferUsageMapRead | wgpu.BufferUsageCopyDst, Size: bytes,
	})
	if err != nil {
		return nil, fmt.Errorf("download: staging buffer: %w", err)
	}
	defer func() { staging.Destroy(); staging.Release() }()
	enc, err := b.encoder()
	if err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	if err := enc.CopyBufferToBuffer(t.buf, 0, staging, 0, bytes); err != nil {
		return nil, fmt.Errorf("download: copy: %w", err)
	}
	b.recorded++
	if err := b.flushLocked(); err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	raw, err := readBuffer(b.dev, staging, bytes)
	if err != nil {
		b.noteLost(err)
		if lerr := b.alive("download"); lerr != nil {
			return nil, lerr
		}
		return nil, fmt.Errorf("download: %w", err)
	}
	if err := b.alive("download"); err != nil {
		return nil, err
	}
	out := make([]float32, t.n)
	if t.half {
		for i := range out {
			out[i] = op.F16ToF32(binary.LittleEndian.Uint16(raw[2*i:]))
		}
		return out, nil
	}
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return out, nil
}

// Free implements op.Backend. The buffer is destroyed after the pending work that may use it is
// submitted. Free(nil), a foreign tensor and a second Free are no-ops.
func (b *Backend) Free(x op.Tensor) {
	t, ok := x.(*Tensor)
	if !ok || t == nil || t.b != b {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.freed || b.closed {
		return
	}
	t.freed = true
	if b.enc == nil {
		b.destroy(t)
		return
	}
	b.deferred = append(b.deferred, func() { b.destroy(t) })
}

func (b *Backend) destroy(t *Tensor) {
	if t.exp != nil {
		b.destroy(t.exp)
		t.exp = nil
	}
	t.freed = true
	if t.buf == nil { // destroyed already
		return
	}
	b.mem.add(t.size, t.half, -1)
	t.buf.Destroy()
	t.buf.Release()
	t.buf = nil
}

// Flush submits the recorded work and waits for it to finish.
func (b *Backend) Flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.alive("flush"); err != nil {
		return err
	}
	return b.flushLocked()
}

func (b *Backend) encoder() (*wgpu.CommandEncoder, error) {
	if b.enc == nil {
		enc, err := b.dev.CreateCommandEncoder(&wgpu.CommandEncoderDescriptor{Label: "slak"})
		if err != nil {
			return nil, err
		}
		b.enc = enc
	}
	return b.enc, nil
}

func (b *Backend) flushLocked() error {
	enc := b.enc
	b.enc = nil
	deferred := b.deferred
	b.deferred = nil
	defer func() {
		for _, f := range deferred {
			f()
		}
	}()
	if enc == nil {
		return nil
	}
	defer enc.Release()
	pushErrorScope()
	cmd, err := enc.Finish(nil)
	if err != nil {
		_ = popErrorScope()
		b.noteLost(err)
		return fmt.Errorf("finish: %w", err)
	}
	b.queue.Submit(cmd)
	cmd.Release()
	b.Stats.Submits++
	b.recorded = 0
	if d, err := waitIdle(b.dev); err != nil {
		_ = popErrorScope()
		return fmt.Errorf("submit: %w", err)
	} else if d > 5*time.Second {
		b.Stats.LongWaits++
	}
	if b.WaitOnFlush {
		if err := waitQueue(b.queue); err != nil {
			_ = popErrorScope()
			return fmt.Errorf("submit: %w", err)
		}
	}
	if err := popErrorScope(); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	return b.alive("submit")
}

// recoverTo turns a panic inside the binding (a JavaScript exception in the browser, an abort
// message natively) into an error naming where it happened, so a bad call never kills the program.
func recoverTo(where string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: binding panicked: %v", where, r)
	}
}

// tensor checks that x is a live tensor of this backend.
func (b *Backend) tensor(opName, what string, x op.Tensor) (*Tensor, error) {
	if err := b.alive(opName); err != nil {
		return nil, err
	}
	if x == nil {
		return nil, fmt.Errorf("%s: %s is nil", opName, what)
	}
	t, ok := x.(*Tensor)
	if !ok {
		return nil, fmt.Errorf("%s: %s is a %T, not a gpu tensor (tensor from another backend)", opName, what, x)
	}
	if t == nil {
		return nil, fmt.Errorf("%s: %s is nil", opName, what)
	}
	if t.b != b {
		return nil, fmt.Errorf("%s: %s belongs to another gpu backend", opName, what)
	}
	if t.freed {
		return nil, fmt.Errorf("%s: %s was freed", opName, what)
	}
	return t, nil
}

// arg checks a tensor argument and its length. A half tensor is returned as its float32
// expansion (half.go), so every kernel that binds array<f32> can take it; the kernels that read
// halves themselves use argHalf.
func (b *Backend) arg(opName, what string, x op.Tensor, want int) (*Tensor, error) {
	t, err := b.argHalf(opName, what, x, want)
	if err != nil || !t.half {
		return t, err
	}
	return b.expand(opName, t)
}

// argHalf is arg that returns a half tensor as it is.
func (b *Backend) argHalf(opName, what string, x op.Tensor, want int) (*Tensor, error) {
	t, err := b.tensor(opName, what, x)
	if err != nil {
		return nil, err
	}
	if err := op.CheckLen(opName, what, t.n, want); err != nil {
		return nil, err
	}
	return t, nil
}

func f32bytes(v []float32) []byte {
	out := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(f))
	}
	return out
}
