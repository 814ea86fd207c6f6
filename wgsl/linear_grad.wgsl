// linear_grad.wgsl: input gradient of the pointwise / fully connected layer.
//   dx[i,p] = Σ_o W[o,i] · dy[o,p]
// Reference: engine/cpu/linear.go (LinearGradInput)
// Layout: dy [Out,HW], W [Out,In], dx [In,HW]; element idx = i·HW + p.
// Dispatch: workgroup 256×1×1, one thread per element i = gid.x + gid.y·(num_workgroups.x·256); the
//           launcher splits ⌈N/256⌉ groups over x and y so no dimension exceeds 65535.
struct Params { n_in: u32, n_out: u32, hw: u32 }

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 256u;
  if (idx >= P.n_in * P.hw) { return; }
  let i = idx / P.hw;
  let p = idx % P.hw;
  var acc = 0.0;
  for (var o = 0u; o < P.n_out; o += 1u) {
    acc += wt[o * P.n_in + i] * dy[o * P.hw + p];
  }
  dx[idx] = acc;
}
