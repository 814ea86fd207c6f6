// matmul_fast.wgsl: register-blocked tiled GEMM for pointwise layers in CHW, with fused
// LayerNorm prologue and bias / GELU / layer-scale+residual epilogues:
//   x'[i,p] = LN ? (x[i,p] − mean[p])·rstd[p]·γ[i] + β[i] : x[i,p]
//   v[o,p]  = Σ_i W[o,i]·x'[i,p] + b[o]
//   y[o,p]  = v (EPI 0) | GELU(v) (EPI 1, exact-erf form, erf by Abramowitz–Stegun 7.1.26,
//             |err| < 1.5e-7) | r[o,p] + g[o]·v (EPI 2)
// Reference: engine/cpu/linear.go, layernorm.go, gelu.go, scaleresidual.go (op.Fused by composition).
// Layout: x [In,HW], W [Out,In], b [Out], stats [2,HW] (mean, rstd from fused_lnstats.wgsl),
// γ/β [In], r [Out,HW], g [Out], y [Out,HW]. Absent optional inputs are bound to a dummy buffer.
// Substitutions: {{LN}} and {{EPI}} (true/false, 0/1/2) select prologue and epilogue at compile
// time; LN with EPI = 2 is not supported (they share the aux bindings).
// Dispatch: (ceil(HW/32), ceil(Out/32), 1) workgroups of 8×8 invocations; each invocation owns a
// 4×4 block (4 outputs o × 4 pixels p) of the workgroup's 32×32 tile. K advances 16 at a time
// through workgroup memory, A transposed: As[k][o], Bs[k][p] as vec4 (2 × 16·8 vec4 = 4 KiB).
// Per k: 2 vec4 loads feed 16 FMAs. Bounds are checked in the loaders (zeros past In/Out/HW), so
// 249/499/998-wide layers and HW = 49 need no padding.
struct Params { inp: u32, out: u32, hw: u32, has_bias: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wm: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
// aux0..2 are stats, γ, β when LN, r, g (and a dummy) when EPI = 2: the two never combine, which
// keeps the shader at 7 storage bindings (the WebGPU default limit is 8).
@group(0) @binding(3) var<storage, read> aux0: array<f32>;
@group(0) @binding(4) var<storage, read> aux1: array<f32>;
@group(0) @binding(5) var<storage, read> aux2: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

const LN: bool = {{LN}};
const EPI: u32 = {{EPI}}u;
const TK: u32 = 16u;

var<workgroup> As: array<vec4<f32>, 128>; // [k][o/4]
var<workgroup> Bs: array<vec4<f32>, 128>; // [k][p/4]

fn erf_as(z: f32) -> f32 {
  let a = abs(z);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign(z) * (1.0 - poly * exp(-a * a));
}

fn epi(v: f32, o: u32, q: u32) -> f32 {
  if (EPI == 1u) { return 0.5 * v * (1.0 + erf_as(v * 0.70710678118654752)); }
  if (EPI == 2u) { return aux0[o * p.hw + q] + aux1[o] * v; }
  return v;
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let p0 = wg.x * 32u;
  let o0 = wg.y * 32u;
  var acc0 = vec4<f32>(); // acc_j[i]: output (o0 + 4·ty + j, p0 + 4·tx + i)
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  let tx = lid.x;
  let ty = lid.y;
  for (var k0 = 0u; k0 < p.inp; k0 = k0 + TK) {
    // each invocation loads 8 A values and 8 B values: (k = li/4 … ) 16 k × 32 = 512 each
    for (var e = 0u; e < 2u; e = e + 1u) {
      let idx = li + e * 64u;       // 0..127 vec4 slots
      let kk = idx / 8u;            // 0..15
      let q4 = (idx % 8u) * 4u;     // 0,4,..,28
      let k = k0 + kk;
      var av = vec4<f32>();
      var bv = vec4<f32>();
      if (k < p.inp) {
        for (var i = 0u; i < 4u; i = i + 1u) {
          let o = o0 + q4 + i;
          if (o < p.out) { av[i] = wm[o * p.inp + k]; }
          let q = p0 + q4 + i;
          if (q < p.hw) {
            var xv = x[k * p.hw + q];
            if (LN) { xv = (xv - aux0[q]) * aux0[p.hw + q] * aux1[k] + aux2[k]; }
            bv[i] = xv;
          }
        }
      }
      As[idx] = av;
      Bs[idx] = bv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk = kk + 1u) {
      let a = As[kk * 8u + ty];
      let b = Bs[kk * 8u + tx];
      acc0 = fma(vec4<f32>(a.x), b, acc0);
      acc1 = fma(vec4<f32>(a.y), b, acc1);
      acc2 = fma(vec4<f32>(a.z), b, acc2);
      acc3 = fma(vec4<f32>(a.w), b, acc3);
    }
    workgroupBarrier();
  }
  var acc = mat4x4<f32>(acc0, acc1, acc2, acc3);
  for (var j = 0u; j < 4u; j = j + 1u) {
    let o = o0 + ty * 4u + j;
    if (o < p.out) {
      var bo = 0.0;
      if (p.has_bias != 0u) { bo = bias[o]; }
      for (var i = 0u; i < 4u; i = i + 1u) {
        let q = p0 + tx * 4u + i;
        if (q < p.hw) { y[o * p.hw + q] = epi(acc[j][i] + bo, o, q); }
      }
    }
  }
}
