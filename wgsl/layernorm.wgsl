// layernorm.wgsl: LayerNorm over channels at every pixel (ConvNeXt/SLaK channels_first LayerNorm).
//   u = mean_c x[c,p];  s = mean_c (x[c,p]−u)² (biased);  y[c,p] = (x[c,p]−u)/sqrt(s+eps)·γ[c] + β[c]
// Two passes over the C values of a pixel (mean, then the centred variance: no cancellation).
// Reference: engine/cpu/layernorm.go
// Layout: x [C,HW], gamma [C], beta [C], y [C,HW]; f32. Reads x[c*HW+p] are coalesced over p.
// Dispatch: workgroup 256×1×1, one thread per pixel p = gid.x + gid.y·(num_workgroups.x·256); the
//           launcher splits ⌈N/256⌉ groups over x and y so no dimension exceeds 65535.
struct Params { c: u32, hw: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = gid.x + gid.y * nwg.x * 256u;
  if (p >= P.hw) { return; }
  var sum = 0.0;
  for (var c = 0u; c < P.c; c += 1u) { sum += x[c * P.hw + p]; }
  let u = sum / f32(P.c);
  var sq = 0.0;
  for (var c = 0u; c < P.c; c += 1u) {
    let d = x[c * P.hw + p] - u;
    sq += d * d;
  }
  let rstd = 1.0 / sqrt(sq / f32(P.c) + P.eps);
  for (var c = 0u; c < P.c; c += 1u) {
    let i = c * P.hw + p;
    y[i] = (x[i] - u) * rstd * gamma[c] + beta[c];
  }
}
