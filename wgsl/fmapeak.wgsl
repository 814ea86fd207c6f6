// fmapeak.wgsl: fp32 FMA peak micro-benchmark (the roofline the benchmark reports against).
// Reference: engine/cpu/ has none: a throughput probe (engine/bench checks the sums are finite).
// Each invocation runs 16 independent FMA chains of {{ITERS}} iterations, a_k = fma(a_k, m, c),
// so the adapter's FMA pipes stay busy without dependent latency; the chains are summed into
// out[gid] so nothing is dead code. FLOPs = 2 · 16 · ITERS · invocations.
// Dispatch: (groups, 1, 1) workgroups of 64 invocations; out has groups·64 elements.
// Params: p.m, p.c are runtime values (0.999, 1e-3) so the compiler cannot fold the chains.
struct Params { m: f32, c: f32, n: u32, pad: u32 }
@group(0) @binding(0) var<storage, read_write> out: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let s = f32(gid.x) * 1e-6;
  var a0 = vec4<f32>(s, s + 0.1, s + 0.2, s + 0.3);
  var a1 = a0 + vec4<f32>(0.01);
  var a2 = a0 + vec4<f32>(0.02);
  var a3 = a0 + vec4<f32>(0.03);
  let m = vec4<f32>(p.m);
  let c = vec4<f32>(p.c);
  for (var i = 0u; i < {{ITERS}}u; i = i + 1u) {
    a0 = fma(a0, m, c);
    a1 = fma(a1, m, c);
    a2 = fma(a2, m, c);
    a3 = fma(a3, m, c);
  }
  let t = a0 + a1 + a2 + a3;
  if (gid.x < p.n) { out[gid.x] = t.x + t.y + t.z + t.w; }
}
