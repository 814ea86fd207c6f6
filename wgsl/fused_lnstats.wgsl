// fused_lnstats.wgsl: per-pixel LayerNorm statistics over channels, the pre-pass of pw1's fused
// LayerNorm (matmul_fast.wgsl applies them in its loader):
//   mean[p] = (1/C) Σ_c x[c,p];  rstd[p] = 1 / sqrt((1/C) Σ_c (x[c,p] − mean[p])² + eps)  (biased, two-pass)
// Reference: engine/cpu/layernorm.go (the same mean and biased variance).
// Layout: x [C,HW], stats [2,HW]: stats[p] = mean, stats[HW + p] = rstd.
// Dispatch: (ceil(HW/64), 1, 1) workgroups of 64; one invocation per pixel, loops over C.
struct Params { c: u32, hw: u32, eps: f32, pad: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> stats: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let q = gid.x;
  if (q >= p.hw) { return; }
  var sum = 0.0;
  for (var c = 0u; c < p.c; c = c + 1u) { sum = sum + x[c * p.hw + q]; }
  let mean = sum / f32(p.c);
  var ss = 0.0;
  for (var c = 0u; c < p.c; c = c + 1u) {
    let d = x[c * p.hw + q] - mean;
    ss = ss + d * d;
  }
  stats[q] = mean;
  stats[p.hw + q] = 1.0 / sqrt(ss / f32(p.c) + p.eps);
}
