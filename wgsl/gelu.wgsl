// gelu.wgsl: exact (erf) GELU, as nn.GELU's default.
//   y = 0.5 · x · (1 + erf(x / √2))
// WGSL has no erf: erf_as (wgsl/lib_erf.wgsl: A&S 7.1.26, |error| ≤ 1.5e-7) gives |Δy| ≤ 0.75e-7·|x| + f32 rounding.
// Reference: engine/cpu/gelu.go
// Layout: x [N], y [N].
// Dispatch: workgroup 256×1×1, one thread per element i = gid.x + gid.y·(num_workgroups.x·256); the
//           launcher splits ⌈N/256⌉ groups over x and y so no dimension exceeds 65535.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

//!include lib_erf

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.n) { return; }
  let v = x[i];
  y[i] = 0.5 * v * (1.0 + erf_as(v * 0.70710678118654752));
}
