// avgpool_grad.wgsl: input gradient of the global average pool.
//   dx[c,p] = dy[c] / HW
// Reference: engine/cpu/avgpool.go (AvgPoolGradInput)
// Layout: dy [C], dx [C,HW]; c = i / HW.
// Dispatch: workgroup 256×1×1, one thread per element i = gid.x + gid.y·(num_workgroups.x·256); the
//           launcher splits ⌈N/256⌉ groups over x and y so no dimension exceeds 65535.
struct Params { c: u32, hw: u32 }

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.c * P.hw) { return; }
  dx[i] = dy[i / P.hw] / f32(P.hw);
}
