// relu_grad.wgsl: dx = dy where x > 0, else 0 (the subgradient at x = 0 is taken as 0, like PyTorch).
// Reference: engine/cpu/relu.go (ReLUGradInput)
// Layout: x [N], dy [N], dx [N].
// Dispatch: workgroup 256×1×1, one thread per element i = gid.x + gid.y·(num_workgroups.x·256); the
//           launcher splits ⌈N/256⌉ groups over x and y so no dimension exceeds 65535.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= P.n) { return; }
  dx[i] = select(0.0, dy[i], x[i] > 0.0);
}
