// batchnorm_grad.wgsl: input gradient of eval-mode BatchNorm (statistics are constants).
//   dx[c,p] = dy[c,p] · γ[c] / sqrt(var[c] + eps)
// Reference: engine/cpu/batchnorm.go (BatchNormGradInput)
// Layout: dy [C,HW], var/gamma [C], dx [C,HW]; f32; c = i / HW.
// Dispatch: workgroup 256×1×1, one thread per element i = gid.x + gid.y·(num_workgroups.x·256); the
//           launcher splits ⌈N/256⌉ groups over x and y so no dimension exceeds 65535.
struct Params { c: u32, hw: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> variance: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.c * P.hw) { return; }
  let c = i / P.hw;
  dx[i] = dy[i] * gamma[c] / sqrt(variance[c] + P.eps);
}
