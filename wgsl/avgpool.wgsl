// avgpool.wgsl: global average pool.
//   y[c] = (1/HW) · Σ_p x[c,p]
// Reference: engine/cpu/avgpool.go
// Layout: x [C,HW], y [C]. One thread per channel sums its HW values in order.
// Dispatch: workgroup 256×1×1, one thread per channel c = gid.x + gid.y·(num_workgroups.x·256); the
//           launcher splits ⌈N/256⌉ groups over x and y so no dimension exceeds 65535.
struct Params { c: u32, hw: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let c = gid.x + gid.y * nwg.x * 256u;
  if (c >= P.c) { return; }
  var acc = 0.0;
  let base = c * P.hw;
  for (var p = 0u; p < P.hw; p += 1u) { acc += x[base + p]; }
  y[c] = acc / f32(P.hw);
}
