// Package wgsl embeds the engine's WGSL compute shaders, one pipeline per file.
// Compile-time constants are substituted as text by engine/gpu (the native
// naga in cogentcore/webgpu rejects `override`); see each file's header for
// its formula, reference, layout and dispatch geometry.
package wgsl

import "embed"

// FS holds every shader, named <op stem>[_<variant>].wgsl.
//
//go:embed *.wgsl
var FS embed.FS
