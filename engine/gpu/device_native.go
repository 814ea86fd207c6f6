//go:build !js

package gpu

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cogentcore/webgpu/wgpu"
)

// openDevice opens the default adapter natively (wgpu-native: Vulkan here, lavapipe on CPU-only
// machines) and a device with the adapter's maximum storage-buffer, buffer and workgroup-storage
// limits. lost is set (with a message) by the device-lost callback.
func openDevice(lost *atomic.Pointer[string]) (*wgpu.Device, Info, error) {
	wgpu.SetLogLevel(wgpu.LogLevelOff)
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		// Without it Mesa's Vulkan WSI prints "error: XDG_RUNTIME_DIR is invalid or not set" three
		// times on stderr when the instance is created (headless CI machines); compute needs no
		// runtime directory, so point it at the temp dir (only when unset).
		os.Setenv("XDG_RUNTIME_DIR", os.TempDir())
	}
	inst := wgpu.CreateInstance(nil)
	if inst == nil {
		return nil, Info{}, ErrNoAdapter
	}
	ad, err := inst.RequestAdapter(&wgpu.RequestAdapterOptions{PowerPreference: wgpu.PowerPreferenceHighPerformance})
	if err != nil || ad == nil {
		return nil, Info{}, fmt.Errorf("%w: %v", ErrNoAdapter, err)
	}
	al := ad.GetLimits().Limits
	ai := ad.GetInfo()
	req := wgpu.DefaultLimits()
	req.MaxStorageBufferBindingSize = al.MaxStorageBufferBindingSize
	req.MaxBufferSize = al.MaxBufferSize
	req.MaxComputeWorkgroupStorageSize = al.MaxComputeWorkgroupStorageSize
	req.MaxComputeInvocationsPerWorkgroup = al.MaxComputeInvocationsPerWorkgroup
	req.MaxStorageBuffersPerShaderStage = al.MaxStorageBuffersPerShaderStage
	// No DeviceLostCallback natively: the binding stores a Go pointer in the C descriptor for it,
	// which cgo's pointer check rejects (panic). A lost native device shows up as errors from the
	// binding's error scopes instead; markLost turns those into ErrDeviceLost.
	// shader-f16 when the adapter has it (lavapipe does): half weights may then bind as f16
	// (half.go; the native naga's support for `enable f16;` is probed on first use).
	var feats []wgpu.FeatureName
	if ad.HasFeature(wgpu.FeatureNameShaderF16) {
		feats = append(feats, wgpu.FeatureNameShaderF16)
	}
	dev, err := ad.RequestDevice(&wgpu.DeviceDescriptor{
		Label:            "slak",
		RequiredFeatures: feats,
		RequiredLimits:   &wgpu.RequiredLimits{Limits: req},
	})
	if err != nil {
		return nil, Info{}, fmt.Errorf("gpu: request device on %q: %w", ai.Name, err)
	}
	dl := dev.GetLimits().Limits
	name := ai.Name
	if name == "" || strings.HasPrefix(name, "0x") {
		// This binding's AdapterInfo fields are shifted against wgpu-native's: the adapter's name
		// ("llvmpipe (LLVM 15.0.6, 256 bits)") arrives in DriverDescription and Name holds "0x0".
		name = ai.DriverDescription
	}
	backend := ai.BackendType.String()
	if backend == "vulkan" {
		backend = "Vulkan"
	}
	info := Info{
		Name:         name,
		Vendor:       ai.VendorName,
		Architecture: ai.Architecture,
		Driver:       ai.DriverDescription,
		Backend:      backend,
		AdapterType:  ai.AdapterType.String(),
		Software:     ai.AdapterType == wgpu.AdapterTypeCPU,
		Limits:       limitsOf(dl),
	}
	for _, f := range dev.EnumerateFeatures() {
		info.Features = append(info.Features, f.String())
	}
	for _, f := range ad.EnumerateFeatures() {
		info.AdapterFeatures = append(info.AdapterFeatures, f.String())
	}
	return dev, info, nil
}

func limitsOf(l wgpu.Limits) Limits {
	return Limits{
		MaxStorageBufferBindingSize:       l.MaxStorageBufferBindingSize,
		MaxBufferSize:                     l.MaxBufferSize,
		MaxComputeWorkgroupStorageSize:    l.MaxComputeWorkgroupStorageSize,
		MaxComputeInvocationsPerWorkgroup: l.MaxComputeInvocationsPerWorkgroup,
		MaxComputeWorkgroupsPerDimension:  l.MaxComputeWorkgroupsPerDimension,
		MaxStorageBuffersPerShaderStage:   l.MaxStorageBuffersPerShaderStage,
		MinUniformBufferOffsetAlignment:   l.MinUniformBufferOffsetAlignment,
	}
}

// endPass ends a compute pass; natively the binding reports validation errors here.
func endPass(p *wgpu.ComputePassEncoder) error { return p.End() }

// readBuffer maps a MAP_READ buffer and copies its first n bytes out, polling the device until the
// map callback fires.
func readBuffer(dev *wgpu.Device, buf *wgpu.Buffer, n uint64) ([]byte, error) {
	var status wgpu.BufferMapAsyncStatus
	done := false
	if err := buf.MapAsync(wgpu.MapModeRead, 0, n, func(s wgpu.BufferMapAsyncStatus) {
		status = s
		done = true
	}); err != nil {
		return nil, err
	}
	start, nap := time.Now(), 20*time.Microsecond
	for !done { // Poll(false): see waitIdle for why never Poll(true)
		dev.Poll(false, nil)
		if done {
			break
		}
		if time.Since(start) > maxWait {
			return nil, fmt.Errorf("map for reading: still pending after %v", maxWait)
		}
		time.Sleep(nap)
		nap = min(2*nap, time.Millisecond)
	}
	if status != wgpu.BufferMapAsyncStatusSuccess {
		return nil, fmt.Errorf("map for reading: %s", status)
	}
	out := make([]byte, n)
	copy(out, buf.GetMappedRange(0, uint(n)))
	if err := buf.Unmap(); err != nil {
		return nil, err
	}
	return out, nil
}

// waitIdle blocks until submitted work is done and reports how long that took. It polls without
// waiting: wgpu-core's Poll(wait) gives up after its cleanup timeout (CLEANUP_WAIT_MS, 5 s) but
// then treats the submission as finished anyway (last_done_index = the index it waited for) and
// recycles its command buffers while lavapipe still executes them. A long direct kernel or a whole
// network in one submit on a loaded software adapter takes that long, and lavapipe's queue thread
// then crashed (SIGSEGV walking a freed command list). Poll(false) reads the real fence value.
func waitIdle(dev *wgpu.Device) (time.Duration, error) {
	start := time.Now()
	nap := 20 * time.Microsecond
	for !dev.Poll(false, nil) {
		if time.Since(start) > maxWait {
			return time.Since(start), fmt.Errorf("queue still busy after %v", maxWait)
		}
		time.Sleep(nap)
		nap = min(2*nap, time.Millisecond)
	}
	return time.Since(start), nil
}

// maxWait bounds a wait for the queue (a hung or lost device).
const maxWait = 10 * time.Minute

// pushErrorScope / popErrorScope are no-ops natively: the binding wraps every create, finish and
// write call in its own validation scope and returns the error.
func pushErrorScope()      {}
func popErrorScope() error { return nil }

// waitQueue is a no-op natively: Flush already waited in waitIdle (Backend.WaitOnFlush).
func waitQueue(_ *wgpu.Queue) error { return nil }
