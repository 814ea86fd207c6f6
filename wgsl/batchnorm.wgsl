// batchnorm.wgsl: BatchNorm2d in eval form (running statistics).
//   y[c,p] = (x[c,p] − mean[c]) / sqrt(var[c] + eps) · γ[c] + β[c]
// Reference: engine/cpu/batchnorm.go
// Layout: x [C,HW], mean/var/gamma/beta [C], y [C,HW]; f32; c = i / HW.
// Dispatch: workgroup 256×1×1, one thread per element i = gid.x + gid.y·(num_workgroups.x·256); the
//           launcher splits ⌈N/256⌉ groups over x and y so no dimension exceeds 65535.
struct Params { c: u32, hw: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> variance: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> P: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.c * P.hw) { return; }
  let c = i / P.hw;
  y[i] = (x[i] - mean[c]) / sqrt(variance[c] + P.eps) * gamma[c] + beta[c];
}
