// layernorm_lane.wgsl: layernorm.wgsl (same formula, same operation order per pixel) for
// llvmpipe when HW % 4 == 0, before matmul_lane.wgsl (GEMMLaneLN4): an invocation normalises 4
// pixels, read and written as vec4. llvmpipe (Mesa 22.3) runs every storage access as a loop over
// its 8 SIMD lanes (see matmul_lane.wgsl), so a vec4 access costs about what a scalar one does;
// 4 pixels per access cut layernorm.wgsl's 3 loads + 1 store per element to 1 per 4 elements.
//   u = mean_c x[c,p];  s = mean_c (x[c,p]−u)² (biased);  y[c,p] = (x[c,p]−u)/sqrt(s+eps)·γ[c] + β[c]
// Reference: engine/cpu/layernorm.go
// Layout: x [C,HW] as vec4 [C][HW/4], gamma [C], beta [C], y as x; f32.
// Dispatch: workgroups of 8, one invocation per 4 pixels: q = gid.x + gid.y·(num_workgroups.x·8)
// (grid1D over HW/4), pixels 4q..4q+3. The loads are unconditional (q clamped to the plane) so
// no execution mask surrounds them; only the stores are skipped past HW.
struct Params { c: u32, hw: u32, eps: f32 }
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> P: Params;

@compute @workgroup_size(8, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n4 = P.hw / 4u;
  let q = gid.x + gid.y * nwg.x * 8u;
  let qc = min(q, n4 - 1u);
  var sum = vec4<f32>();
  for (var c = 0u; c < P.c; c += 1u) { sum += x[c * n4 + qc]; }
  let u = sum / f32(P.c);
  var sq = vec4<f32>();
  for (var c = 0u; c < P.c; c += 1u) {
    let d = x[c * n4 + qc] - u;
    sq += d * d;
  }
  let rstd = 1.0 / sqrt(sq / f32(P.c) + P.eps);
  if (q >= n4) { return; }
  for (var c = 0u; c < P.c; c += 1u) {
    let i = c * n4 + q;
    y[i] = (x[i] - u) * rstd * gamma[c] + beta[c];
  }
}
