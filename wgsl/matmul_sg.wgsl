// matmul_sg.wgsl: the pointwise GEMM of matmul_fast_v4.wgsl (same formula, prologue and
// epilogues) with W shared across a subgroup's lanes by subgroupBroadcast instead of staged in
// workgroup memory (no workgroup memory, no barriers). Browser-only: `enable subgroups;` is
// rejected by the native naga (ENGINE.md trap 4); engine/gpu uses it only when the device has
// the subgroups feature and the tuner measured it faster (or GEMMSubgroups forces it, in tests).
//   x'[i,p] = LN ? (x[i,p] − mean[p])·rstd[p]·γ[i] + β[i] : x[i,p]
//   v[o,p]  = Σ_i W[o,i]·x'[i,p] + b[o]
//   y[o,p]  = v (EPI 0) | GELU(v) (EPI 1, exact-erf form, erf by Abramowitz–Stegun 7.1.26,
//             |err| < 1.5e-7, as gelu.wgsl) | r[o,p] + g[o]·v (EPI 2)
// Reference: engine/cpu/linear.go, layernorm.go, gelu.go, scaleresidual.go (op.Fused by composition).
// Layout: x [In,HW], W [Out,In] (f32, or half through halfW's WT/W1/W4), b [Out], stats [2,HW]
// (mean, rstd from fused_lnstats.wgsl), γ/β [In], r [Out,HW], g [Out], y [Out,HW].
// Substitutions: LN, EPI, XV (HW % 4 == 0: x, aux0, y as vec4), WV (In % 4 == 0), WGS (invocations
// per workgroup, a power of two in 4..64 covering ⌈HW/4⌉ when that is small), ENABLE/WT/W1/W4
// (halfW), X1/X4/R1/R4/Y1/Y4 (element access by binding type, as matmul_fast_v4.wgsl).
// Dispatch: (ceil(HW / (4·WGS)), ceil(Out / 16), 1) workgroups of WGS invocations. A workgroup
// owns 16 rows o0..o0+15 (uniform, so every subgroup of it shares them) × 4·WGS pixels;
// invocation li owns the 16 × 4 block of rows o0.. and pixels q = 4·(WGS·wg.x + li) .. q+3.
// Sharing: per 4 k, lane s of a subgroup (s = subgroup_invocation_id mod 4; WebGPU subgroups
// have ≥ 4 lanes) loads W[o0 + 4j + s, k..k+3] for j = 0..3 (4 vec4), and row 4j + t reads lane
// t's vec4 with subgroupBroadcast(·, t) (a constant lane: a splat on SIMD adapters). Per 4 k an
// invocation makes 4 x vec4 loads + 4 W vec4 loads + 16 broadcasts for 256 FMAs (v4's 16 × 16
// blocks: 24 workgroup-memory vec4 loads per 512 FMAs, plus staging and two barriers).
// Every subgroupBroadcast sits in uniform control flow: the k loop depends only on Params, and
// invocations past HW or Out still run it (their loads are clamped to zeros, stores skipped).
enable subgroups;
{{ENABLE}}
struct Params {
  inp: u32, out: u32, hw: u32, has_bias: u32,
  h: u32, w: u32, kh: u32, kw: u32, s: u32, ph: u32, pw: u32, ow: u32,
}
alias XT = {{XT}};
alias WT = {{WT}};
@group(0) @binding(0) var<storage, read> x: array<XT>;
@group(0) @binding(1) var<storage, read> wm: array<WT>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read> aux0: array<XT>;
@group(0) @binding(4) var<storage, read> aux1: array<f32>;
@group(0) @binding(5) var<storage, read> aux2: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<XT>;
@group(0) @binding(7) var<uniform> p: Params;

const LN: bool = {{LN}};
const EPI: u32 = {{EPI}}u;
const XV: bool = {{XV}};
const WV: bool = {{WV}};
const WGS: u32 = {{WGS}}u;

//!include lib_gemm_access

// ldw returns W[o, k..k+3] (zeros past In and Out).
fn ldw(o: u32, k: u32) -> vec4<f32> {
  if (o >= p.out) { return vec4<f32>(); }
  if (WV) {
    if (k < p.inp) { return w4((o * p.inp + k) / 4u); }
    return vec4<f32>();
  }
  var v = vec4<f32>();
  for (var i = 0u; i < 4u; i = i + 1u) {
    if (k + i < p.inp) { v[i] = w1(o * p.inp + k + i); }
  }
  return v;
}

// ldx returns the prologue's x'[k, q..q+3] (zeros past In and HW).
fn ldx(k: u32, q: u32, mean: vec4<f32>, rstd: vec4<f32>) -> vec4<f32> {
  if (k >= p.inp || q >= p.hw) { return vec4<f32>(); }
  var v = vec4<f32>();
  if (XV) {
    v = x4((k * p.hw + q) / 4u);
  } else {
    for (var i = 0u; i < 4u; i = i + 1u) {
      if (q + i < p.hw) { v[i] = x1(k * p.hw + q + i); }
    }
  }
  if (LN) {
    v = select(vec4<f32>(), (v - mean) * rstd * aux1[k] + aux2[k], vec4<u32>(q) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.hw));
  }
  return v;
}

//!include lib_erf

fn epi(v: f32, o: u32, q: u32) -> f32 {
  if (EPI == 1u) { return 0.5 * v * (1.0 + erf_as(v * 0.70710678118654752)); }
  if (EPI == 2u) { return r1(o * p.hw + q) + aux1[o] * v; }
  return v;
}

// store4 writes row o, pixels q0..q0+3 (bias, epilogue, bounds).
fn store4(o: u32, q0: u32, v: vec4<f32>) {
  if (o >= p.out || q0 >= p.hw) { return; }
  var bo = 0.0;
  if (p.has_bias != 0u) { bo = bias[o]; }
  if (XV) {
    let i4 = (o * p.hw + q0) / 4u;
    var r = v + bo;
    if (EPI == 1u) { r = 0.5 * r * (1.0 + erf_as4(r * 0.70710678118654752)); }
    if (EPI == 2u) { r = r4(i4) + aux1[o] * r; }
    y4(i4, r);
    return;
  }
  for (var i = 0u; i < 4u; i = i + 1u) {
    let q = q0 + i;
    if (q < p.hw) { y1(o * p.hw + q, epi(v[i] + bo, o, q)); }
  }
}

// mac returns c + a.x·x0 + a.y·x1 + a.z·x2 + a.w·x3 (one row, 4 k, 4 pixels).
fn mac(c: vec4<f32>, a: vec4<f32>, x0: vec4<f32>, x1v: vec4<f32>, x2: vec4<f32>, x3: vec4<f32>) -> vec4<f32> {
  return fma(vec4<f32>(a.w), x3, fma(vec4<f32>(a.z), x2, fma(vec4<f32>(a.y), x1v, fma(vec4<f32>(a.x), x0, c))));
}

@compute @workgroup_size({{WGS}})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32,
        @builtin(subgroup_invocation_id) sid: u32) {
  let q = 4u * (wg.x * WGS + li);
  let o0 = wg.y * 16u;
  let s = sid % 4u;
  var mean = vec4<f32>();
  var rstd = vec4<f32>(1.0);
  if (LN) {
    for (var i = 0u; i < 4u; i = i + 1u) {
      if (q + i < p.hw) {
        mean[i] = r1(q + i);
        rstd[i] = r1(p.hw + q + i);
      }
    }
  }
  var c0 = vec4<f32>(); var c1 = vec4<f32>(); var c2 = vec4<f32>(); var c3 = vec4<f32>();
  var c4 = vec4<f32>(); var c5 = vec4<f32>(); var c6 = vec4<f32>(); var c7 = vec4<f32>();
  var c8 = vec4<f32>(); var c9 = vec4<f32>(); var c10 = vec4<f32>(); var c11 = vec4<f32>();
  var c12 = vec4<f32>(); var c13 = vec4<f32>(); var c14 = vec4<f32>(); var c15 = vec4<f32>();
  for (var k = 0u; k < p.inp; k = k + 4u) {
    let x0 = ldx(k, q, mean, rstd);
    let x1v = ldx(k + 1u, q, mean, rstd);
    let x2 = ldx(k + 2u, q, mean, rstd);
    let x3 = ldx(k + 3u, q, mean, rstd);
    // this lane's share of W: rows o0 + s, o0 + 4 + s, o0 + 8 + s, o0 + 12 + s
    let w0 = ldw(o0 + s, k);
    let w1v = ldw(o0 + 4u + s, k);
    let w2 = ldw(o0 + 8u + s, k);
    let w3 = ldw(o0 + 12u + s, k);
    c0 = mac(c0, subgroupBroadcast(w0, 0u), x0, x1v, x2, x3);
    c1 = mac(c1, subgroupBroadcast(w0, 1u), x0, x1v, x2, x3);
    c2 = mac(c2, subgroupBroadcast(w0, 2u), x0, x1v, x2, x3);
    c3 = mac(c3, subgroupBroadcast(w0, 3u), x0, x1v, x2, x3);
    c4 = mac(c4, subgroupBroadcast(w1v, 0u), x0, x1v, x2, x3);
    c5 = mac(c5, subgroupBroadcast(w1v, 1u), x0, x1v, x2, x3);
    c6 = mac(c6, subgroupBroadcast(w1v, 2u), x0, x1v, x2, x3);
    c7 = mac(c7, subgroupBroadcast(w1v, 3u), x0, x1v, x2, x3);
    c8 = mac(c8, subgroupBroadcast(w2, 0u), x0, x1v, x2, x3);
    c9 = mac(c9, subgroupBroadcast(w2, 1u), x0, x1v, x2, x3);
    c10 = mac(c10, subgroupBroadcast(w2, 2u), x0, x1v, x2, x3);
    c11 = mac(c11, subgroupBroadcast(w2, 3u), x0, x1v, x2, x3);
    c12 = mac(c12, subgroupBroadcast(w3, 0u), x0, x1v, x2, x3);
    c13 = mac(c13, subgroupBroadcast(w3, 1u), x0, x1v, x2, x3);
    c14 = mac(c14, subgroupBroadcast(w3, 2u), x0, x1v, x2, x3);
    c15 = mac(c15, subgroupBroadcast(w3, 3u), x0, x1v, x2, x3);
  }
  store4(o0, q, c0); store4(o0 + 1u, q, c1); store4(o0 + 2u, q, c2); store4(o0 + 3u, q, c3);
  store4(o0 + 4u, q, c4); store4(o0 + 5u, q, c5); store4(o0 + 6u, q, c6); store4(o0 + 7u, q, c7);
  store4(o0 + 8u, q, c8); store4(o0 + 9u, q, c9); store4(o0 + 10u, q, c10); store4(o0 + 11u, q, c11);
  store4(o0 + 12u, q, c12); store4(o0 + 13u, q, c13); store4(o0 + 14u, q, c14); store4(o0 + 15u, q, c15);
}
