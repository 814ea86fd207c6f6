// Package gpu is the WebGPU backend of the engine: it opens a device (natively through wgpu-native on
// Vulkan, in the browser through navigator.gpu), compiles one compute pipeline per WGSL file of package
// wgsl, keeps tensors in storage buffers, and runs every op of op.Backend with a direct kernel.
//
// Dispatches are recorded into one command encoder and submitted lazily, on Download or Flush, so a
// whole network's forward pass is one submit. Every bad call (shape mismatch, nil, zero-size, foreign or
// freed tensor, a buffer above the device's limits, a shader that fails validation) returns an error
// naming the op and shader; a lost device returns ErrDeviceLost.
//
// All imports of github.com/cogentcore/webgpu live in this package.
package gpu

import (
	"errors"
	"fmt"
	"strings"
)

// ErrDeviceLost is wrapped by every error after the device was lost (driver reset, tab in the
// background for too long, out of memory): the caller can offer Retry, which opens a new Backend.
var ErrDeviceLost = errors.New("gpu: device lost")

// ErrNoAdapter is returned by New when no WebGPU adapter is available.
var ErrNoAdapter = errors.New("gpu: no WebGPU adapter")

// Limits are the device limits the engine designs for (requested at the adapter's maximum for the
// storage and workgroup sizes).
type Limits struct {
	MaxStorageBufferBindingSize       uint64
	MaxBufferSize                     uint64
	MaxComputeWorkgroupStorageSize    uint32
	MaxComputeInvocationsPerWorkgroup uint32
	MaxComputeWorkgroupsPerDimension  uint32
	MaxStorageBuffersPerShaderStage   uint32
	MinUniformBufferOffsetAlignment   uint32
}

// Info describes the adapter and the device that was opened on it.
type Info struct {
	Name         string // e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"
	Vendor       string
	Architecture string
	Driver       string
	Backend      string // "Vulkan", "WebGPU", …
	AdapterType  string // "CPU", "DiscreteGPU", …
	// Software is true for a CPU adapter (lavapipe, SwiftShader) or a browser's fallback adapter.
	Software bool
	Limits   Limits
	// Features are the device's features; AdapterFeatures what the adapter offers.
	Features        []string
	AdapterFeatures []string
}

func (i Info) String() string {
	kind := "hardware"
	if i.Software {
		kind = "software"
	}
	return fmt.Sprintf("%s adapter: %s (vendor %q, type %s, %s; max storage binding %d MiB, max buffer %d MiB, workgroup storage %d KiB; features [%s], adapter features [%s])",
		i.Backend, i.Name, i.Vendor, i.AdapterType, kind,
		i.Limits.MaxStorageBufferBindingSize>>20, i.Limits.MaxBufferSize>>20,
		i.Limits.MaxComputeWorkgroupStorageSize>>10, strings.Join(i.Features, ","), strings.Join(i.AdapterFeatures, ","))
}
