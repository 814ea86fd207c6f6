// layernorm_grad.wgsl: input gradient of LayerNorm over channels.
//   x̂ = (x−u)·r, r = 1/sqrt(s+eps), g[c] = dy[c,p]·γ[c]
//   dx[c,p] = r · (g[c] − mean_c g − x̂[c,p] · mean_c (g·x̂))
// Reference: engine/cpu/layernorm.go (LayerNormGradInput)
// Layout: x [C,HW], gamma [C], dy [C,HW], dx [C,HW]; f32.
// Dispatch: workgroup 256×1×1, one thread per pixel p = gid.x + gid.y·(num_workgroups.x·256); the
//           launcher splits ⌈N/256⌉ groups over x and y so no dimension exceeds 65535.
struct Params { c: u32, hw: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = gid.x + gid.y * nwg.x * 256u;
  if (p >= P.hw) { return; }
  let n = f32(P.c);
  var sum = 0.0;
  for (var c = 0u; c < P.c; c += 1u) { sum += x[c * P.hw + p]; }
  let u = sum / n;
  var sq = 0.0;
  for (var c = 0u; c < P.c; c += 1u) {
    let d = x[c * P.hw + p] - u;
    sq += d * d;
  }
  let r = 1.0 / sqrt(sq / n + P.eps);
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = 0u; c < P.c; c += 1u) {
    let i = c * P.hw + p;
    let g = dy[i] * gamma[c];
    sg += g;
    sgx += g * (x[i] - u) * r;
  }
  let mg = sg / n;
  let mgx = sgx / n;
  for (var c = 0u; c < P.c; c += 1u) {
    let i = c * P.hw + p;
    let xh = (x[i] - u) * r;
    dx[i] = r * (dy[i] * gamma[c] - mg - xh * mgx);
  }
}
