// gelu_grad.wgsl: input gradient of the exact GELU.
//   dx = dy · (Φ(x) + x·φ(x)),  Φ(x) = 0.5·(1 + erf(x/√2)),  φ(x) = exp(−x²/2)/√(2π)
// erf by A&S 7.1.26 (|error| ≤ 1.5e-7), so |Δ(Φ)| ≤ 0.75e-7.
// Reference: engine/cpu/gelu.go (GELUGradInput)
// Layout: x [N], dy [N], dx [N].
// Dispatch: workgroup 256×1×1, one thread per element i = gid.x + gid.y·(num_workgroups.x·256); the
//           launcher splits ⌈N/256⌉ groups over x and y so no dimension exceeds 65535.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

//!include lib_erf

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.n) { return; }
  let v = x[i];
  let cdf = 0.5 * (1.0 + erf_as(v * 0.70710678118654752));
  let pdf = exp(-0.5 * v * v) * 0.39894228040143268;
  dx[i] = dy[i] * (cdf + v * pdf);
}
