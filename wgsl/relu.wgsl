// relu.wgsl: y = max(x, 0).
// Reference: engine/cpu/relu.go
// Layout: x [N], y [N].
// Dispatch: workgroup 256×1×1, one thread per element i = gid.x + gid.y·(num_workgroups.x·256); the
//           launcher splits ⌈N/256⌉ groups over x and y so no dimension exceeds 65535.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.n) { return; }
  y[i] = max(x[i], 0.0);
}
