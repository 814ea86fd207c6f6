//go:build js

package gpu

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall/js"
	"time"

	"github.com/cogentcore/webgpu/jsx"
	"github.com/cogentcore/webgpu/wgpu"
)

// wantFeatures are requested when the adapter offers them (later fast paths pick variants from
// Info.Features); the binding's own RequestDevice panics on RequiredFeatures and ignores
// RequiredLimits (ENGINE.md trap 2), so the device is requested here through syscall/js.
var wantFeatures = []string{"shader-f16", "subgroups", "timestamp-query"}

// jsDevice is the raw GPUDevice, kept for error scopes.
var jsDevice js.Value

// openDevice requests an adapter and a device with the adapter's maximum storage-buffer, buffer and
// workgroup limits, and wraps it with wgpu.NewDevice. It blocks the calling goroutine: call it from
// the engine goroutine, never from a js.FuncOf callback (trap 6).
func openDevice(lost *atomic.Pointer[string]) (*wgpu.Device, Info, error) {
	gpu := js.Global().Get("navigator").Get("gpu")
	if !gpu.Truthy() {
		return nil, Info{}, fmt.Errorf("%w: navigator.gpu is undefined", ErrNoAdapter)
	}
	ad, ok := jsx.Await(gpu.Call("requestAdapter", map[string]any{"powerPreference": "high-performance"}))
	if !ok || !ad.Truthy() {
		return nil, Info{}, ErrNoAdapter
	}
	al := ad.Get("limits")
	limits := map[string]any{}
	for _, k := range []string{"maxStorageBufferBindingSize", "maxBufferSize", "maxComputeWorkgroupStorageSize",
		"maxComputeInvocationsPerWorkgroup", "maxStorageBuffersPerShaderStage", "maxComputeWorkgroupSizeX"} {
		if v := al.Get(k); v.Type() == js.TypeNumber {
			limits[k] = v.Float()
		}
	}
	var feats []any
	have := ad.Get("features")
	for _, f := range wantFeatures {
		if have.Call("has", f).Bool() {
			feats = append(feats, f)
		}
	}
	dv, ok := jsx.Await(ad.Call("requestDevice", map[string]any{
		"label":            "slak",
		"requiredLimits":   limits,
		"requiredFeatures": feats,
	}))
	if !ok || !dv.Truthy() {
		return nil, Info{}, fmt.Errorf("gpu: requestDevice failed: %s", jsString(dv))
	}
	jsDevice = dv
	onLost := js.FuncOf(func(this js.Value, args []js.Value) any {
		m := "device lost"
		if len(args) > 0 {
			m = fmt.Sprintf("%s: %s", jsString(args[0].Get("reason")), jsString(args[0].Get("message")))
		}
		lost.Store(&m)
		return nil
	})
	dv.Get("lost").Call("then", onLost) // the callback lives as long as the device: never released
	info := Info{Backend: "WebGPU", Software: ad.Get("isFallbackAdapter").Truthy()}
	if ai := ad.Get("info"); ai.Truthy() {
		info.Vendor = jsString(ai.Get("vendor"))
		info.Architecture = jsString(ai.Get("architecture"))
		info.Name = jsString(ai.Get("device"))
		info.Driver = jsString(ai.Get("description"))
		if ai.Get("isFallbackAdapter").Truthy() {
			info.Software = true
		}
	}
	if info.Name == "" {
		info.Name = info.Vendor + " " + info.Architecture
	}
	if info.Software {
		info.AdapterType = "CPU"
	}
	dl := dv.Get("limits")
	num := func(k string) float64 {
		if v := dl.Get(k); v.Type() == js.TypeNumber {
			return v.Float()
		}
		return 0
	}
	info.Limits = Limits{
		MaxStorageBufferBindingSize:       uint64(num("maxStorageBufferBindingSize")),
		MaxBufferSize:                     uint64(num("maxBufferSize")),
		MaxComputeWorkgroupStorageSize:    uint32(num("maxComputeWorkgroupStorageSize")),
		MaxComputeInvocationsPerWorkgroup: uint32(num("maxComputeInvocationsPerWorkgroup")),
		MaxComputeWorkgroupsPerDimension:  uint32(num("maxComputeWorkgroupsPerDimension")),
		MaxStorageBuffersPerShaderStage:   uint32(num("maxStorageBuffersPerShaderStage")),
		MinUniformBufferOffsetAlignment:   uint32(num("minUniformBufferOffsetAlignment")),
	}
	dv.Get("features").Call("forEach", js.FuncOf(func(this js.Value, args []js.Value) any {
		info.Features = append(info.Features, args[0].String())
		return nil
	}))
	have.Call("forEach", js.FuncOf(func(this js.Value, args []js.Value) any {
		info.AdapterFeatures = append(info.AdapterFeatures, args[0].String())
		return nil
	}))
	d := wgpu.NewDevice(dv)
	return &d, info, nil
}

func jsString(v js.Value) string {
	if v.IsUndefined() || v.IsNull() {
		return ""
	}
	if v.Type() == js.TypeString {
		return v.String() // Value.Call panics on a primitive string
	}
	return js.Global().Get("String").Invoke(v).String() // numbers too: Call needs an object
}

// pushErrorScope / popErrorScope bracket pipeline creation and each submit: in the browser,
// validation errors are asynchronous and only an error scope turns them into a Go error.
func pushErrorScope() {
	if jsDevice.Truthy() {
		jsDevice.Call("pushErrorScope", "validation")
	}
}

func popErrorScope() error {
	if !jsDevice.Truthy() {
		return nil
	}
	e, ok := jsx.Await(jsDevice.Call("popErrorScope"))
	if !ok {
		return errors.New("popErrorScope rejected")
	}
	if e.Truthy() {
		return errors.New(jsString(e.Get("message")))
	}
	return nil
}

// endPass ends a compute pass (the js binding reports no error here; the submit's scope does).
func endPass(p *wgpu.ComputePassEncoder) error {
	p.End()
	return nil
}

// readBuffer maps a MAP_READ buffer (mapAsync is awaited by the binding) and copies n bytes out.
func readBuffer(dev *wgpu.Device, buf *wgpu.Buffer, n uint64) ([]byte, error) {
	var status wgpu.BufferMapAsyncStatus
	if err := buf.MapAsync(wgpu.MapModeRead, 0, n, func(s wgpu.BufferMapAsyncStatus) { status = s }); err != nil {
		return nil, err
	}
	if status != wgpu.BufferMapAsyncStatusSuccess {
		return nil, fmt.Errorf("map for reading: %s", status)
	}
	out := buf.GetMappedRange(0, uint(n))
	if err := buf.Unmap(); err != nil {
		return nil, err
	}
	return out, nil
}

// waitIdle is a no-op in the browser: the queue orders the work, and mapAsync waits for it.
func waitIdle(dev *wgpu.Device) (time.Duration, error) { return 0, nil }

// waitQueue awaits queue.onSubmittedWorkDone() (Backend.WaitOnFlush).
func waitQueue(_ *wgpu.Queue) error {
	if !jsDevice.Truthy() {
		return nil
	}
	if _, ok := jsx.Await(jsDevice.Get("queue").Call("onSubmittedWorkDone")); !ok {
		return fmt.Errorf("queue.onSubmittedWorkDone rejected")
	}
	return nil
}
