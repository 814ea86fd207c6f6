// matmul_fast.wgsl: register-blocked tiled GEMM for pointwise layers in CHW, with fused
// LayerNorm prologue and bias / GELU / layer-scale+residual epilogues:
//   x'[i,p] = LN ? (x[i,p] − mean[p])·rstd[p]·γ[i] + β[i] : x[i,p]
//   v[o,p]  = Σ_i W[o,i]·x'[i,p] + b[o]
//   y[o,p]  = v (EPI 0) | GELU(v) (EPI 1, exact-erf form, erf by Abramowitz–Stegun 7.1.26,
//             |err| < 1.5e-7, as gelu.wgsl) | r[o,p] + g[o]·v (EPI 2)
// Reference: engine/cpu/linear.go, layernorm.go, gelu.go, scaleresidual.go (op.Fused by composition).
// Layout: x [In,HW], W [Out,In], b [Out], stats [2,HW] (mean, rstd from fused_lnstats.wgsl),
// γ/β [In], r [Out,HW], g [Out], y [Out,HW]. Absent optional inputs are bound to a dummy buffer.
// Substitutions: LN, PATCH (true/false) and EPI (0/1/2) select prologue, loader and epilogue at
// compile time; LN with EPI = 2 is not supported (they share the aux bindings).
// Dispatch: (ceil(HW/T), ceil(Out/T), 1) workgroups of WG×WG invocations, T = 8·WG ({{WG}} = 8:
// T = 64, TK = 16; 16: T = 128, TK = 8). A workgroup owns a T (o) × T (p) tile; invocation
// (tx, ty) owns the 8×8 block o ∈ o0 + {4ty..4ty+3, 4WG+4ty..}, p ∈ p0 + {4tx..4tx+3, 4WG+4tx..}.
// K advances TK at a time through workgroup memory (As[k][o], Bs[k][p] as vec4: 2·TK·T/4 vec4 =
// 8 KiB either way): per k, 4 vec4 loads feed 64 FMAs. Loaders: invocation i stages column
// p0 + i mod T of x for 8·TK/WG consecutive k of a step (so the LayerNorm statistics of its
// column stay in registers) and elements i, i + WG², … of the T × TK block of W in row-major
// order (neighbouring invocations read neighbouring k of a row); the larger tile halves the
// loads per FMA of the loaders. PATCH runs with WG = 8 only (its k walk assumes one k run per lane).
// Bounds are checked in the loaders (zeros past In/Out/HW), so 249/499/998-wide layers and
// HW = 49 need no padding.
// W's binding type WT and its element access W1 (f32, or a half tensor's u32 words widened
// with unpack2x16float, or f16 under ENABLE = `enable f16;`) come from engine/gpu/half.go
// (halfW); the widening is exact, so a half W gives bit for bit the result of its expansion.
// h..ow describe the input of a convolution when PATCH (unused otherwise).
{{ENABLE}}
struct Params {
  inp: u32, out: u32, hw: u32, has_bias: u32,
  h: u32, w: u32, kh: u32, kw: u32, s: u32, ph: u32, pw: u32, ow: u32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
alias WT = {{WT}};
@group(0) @binding(1) var<storage, read> wm: array<WT>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
// aux0..2 are stats, γ, β when LN, r, g (and a dummy) when EPI = 2: the two never combine, which
// keeps the shader at 7 storage bindings (the WebGPU default limit is 8).
@group(0) @binding(3) var<storage, read> aux0: array<f32>;
@group(0) @binding(4) var<storage, read> aux1: array<f32>;
@group(0) @binding(5) var<storage, read> aux2: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

const LN: bool = {{LN}};
// PATCH: x is a conv input [Cin,H,W] read as im2col, B[k = (ci·KH + ky)·KW + kx, q = oy·OW + ox]
// = x[ci, oy·S + ky − PH, ox·S + kx − PW] (zero outside), so op.Conv2D (W [Cout, Cin·KH·KW]) runs
// on this GEMM (the stem's 4×4/4 and the 2×2/2 downsamples are the users).
const PATCH: bool = {{PATCH}};
const EPI: u32 = {{EPI}}u;
const WG: u32 = {{WG}}u;
const T: u32 = 8u * WG;          // tile edge
const T4: u32 = 2u * WG;         // vec4 per tile row
const TK: u32 = 128u / WG;       // k per step
const PER: u32 = 8u * TK / WG;   // consecutive k each invocation stages per step

var<workgroup> As: array<vec4<f32>, 256>; // [k][o/4], TK × T4 = 256
var<workgroup> Bs: array<vec4<f32>, 256>; // [k][p/4]

// w1 reads W's element i as f32 whatever the binding type.
fn w1(i: u32) -> f32 { return {{W1}}; }

//!include lib_erf

fn epi(v: f32, o: u32, q: u32) -> f32 {
  if (EPI == 1u) { return 0.5 * v * (1.0 + erf_as(v * 0.70710678118654752)); }
  if (EPI == 2u) { return aux0[o * p.hw + q] + aux1[o] * v; }
  return v;
}

// store4 writes row o, pixels q0..q0+3 of the block (bias, epilogue, bounds).
fn store4(o: u32, q0: u32, v: vec4<f32>) {
  if (o >= p.out) { return; }
  var bo = 0.0;
  if (p.has_bias != 0u) { bo = bias[o]; }
  for (var i = 0u; i < 4u; i = i + 1u) {
    let q = q0 + i;
    if (q < p.hw) { y[o * p.hw + q] = epi(v[i] + bo, o, q); }
  }
}

@compute @workgroup_size({{WG}}, {{WG}})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let p0 = wg.x * T;
  let o0 = wg.y * T;
  let tx = lid.x;
  let ty = lid.y;
  // loader coordinates: this invocation stages W row lo and x column lq
  let lr = li % T;
  let kb = (li / T) * PER; // first k of this invocation's run within a step
  let lo = o0 + lr;
  let lq = p0 + lr;
  let slot = lr / 4u;
  let comp = lr % 4u;
  // PATCH: this invocation's output pixel and the tap (ci, ky, kx) of k, advanced with k
  let poy = i32(lq / max(p.ow, 1u)) * i32(p.s) - i32(p.ph);
  let pox = i32(lq % max(p.ow, 1u)) * i32(p.s) - i32(p.pw);
  var ci = 0u;
  var cky = 0u;
  var ckx = 0u;
  var mean = 0.0;
  var rstd = 1.0;
  if (LN && lq < p.hw) {
    mean = aux0[lq];
    rstd = aux0[p.hw + lq];
  }
  // acc[r][c]: rows a0.xyzw / a1.xyzw × columns b0 / b1
  var c00 = vec4<f32>(); var c01 = vec4<f32>(); var c02 = vec4<f32>(); var c03 = vec4<f32>();
  var c04 = vec4<f32>(); var c05 = vec4<f32>(); var c06 = vec4<f32>(); var c07 = vec4<f32>();
  var c10 = vec4<f32>(); var c11 = vec4<f32>(); var c12 = vec4<f32>(); var c13 = vec4<f32>();
  var c14 = vec4<f32>(); var c15 = vec4<f32>(); var c16 = vec4<f32>(); var c17 = vec4<f32>();
  for (var k0 = 0u; k0 < p.inp; k0 = k0 + TK) {
    for (var j = 0u; j < PER; j = j + 1u) {
      let kk = kb + j;
      let k = k0 + kk;
      var bv = 0.0;
      if (k < p.inp) {
        if (lq < p.hw) {
          if (PATCH) {
            let iy = poy + i32(cky);
            let ix = pox + i32(ckx);
            if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
              bv = x[(ci * p.h + u32(iy)) * p.w + u32(ix)];
            }
          } else {
            bv = x[k * p.hw + lq];
          }
          if (LN) { bv = (bv - mean) * rstd * aux1[k] + aux2[k]; }
        }
      }
      if (PATCH) {
        ckx = ckx + 1u;
        if (ckx == p.kw) { ckx = 0u; cky = cky + 1u; }
        if (cky == p.kh) { cky = 0u; ci = ci + 1u; }
      }
      Bs[kk * T4 + slot][comp] = bv;
    }
    // W: element e = j·WG² + li of the T × TK block is row e / TK, k e mod TK, so neighbouring
    // invocations (lavapipe's SIMD lanes) read neighbouring k of one row: one cache line per
    // gather instead of one row each (rows In·4 bytes apart alias in L1 when In·4 is near a
    // multiple of 4 KiB, e.g. In = 3984 in SLaK-T stage 3's pw2).
    for (var j = 0u; j < PER; j = j + 1u) {
      let e = j * WG * WG + li;
      let ar = e / TK;
      let ak = e % TK;
      let ao = o0 + ar;
      let k = k0 + ak;
      var av = 0.0;
      if (k < p.inp && ao < p.out) { av = w1(ao * p.inp + k); }
      As[ak * T4 + ar / 4u][ar % 4u] = av;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk = kk + 1u) {
      let a0 = As[kk * T4 + ty];
      let a1 = As[kk * T4 + WG + ty];
      let b0 = Bs[kk * T4 + tx];
      let b1 = Bs[kk * T4 + WG + tx];
      c00 = fma(vec4<f32>(a0.x), b0, c00); c01 = fma(vec4<f32>(a0.y), b0, c01);
      c02 = fma(vec4<f32>(a0.z), b0, c02); c03 = fma(vec4<f32>(a0.w), b0, c03);
      c04 = fma(vec4<f32>(a0.x), b1, c04); c05 = fma(vec4<f32>(a0.y), b1, c05);
      c06 = fma(vec4<f32>(a0.z), b1, c06); c07 = fma(vec4<f32>(a0.w), b1, c07);
      c10 = fma(vec4<f32>(a1.x), b0, c10); c11 = fma(vec4<f32>(a1.y), b0, c11);
      c12 = fma(vec4<f32>(a1.z), b0, c12); c13 = fma(vec4<f32>(a1.w), b0, c13);
      c14 = fma(vec4<f32>(a1.x), b1, c14); c15 = fma(vec4<f32>(a1.y), b1, c15);
      c16 = fma(vec4<f32>(a1.z), b1, c16); c17 = fma(vec4<f32>(a1.w), b1, c17);
    }
    workgroupBarrier();
  }
  let ra = o0 + 4u * ty;
  let rb = ra + 4u * WG;
  let qa = p0 + 4u * tx;
  let qb = qa + 4u * WG;
  store4(ra, qa, c00); store4(ra + 1u, qa, c01); store4(ra + 2u, qa, c02); store4(ra + 3u, qa, c03);
  store4(ra, qb, c04); store4(ra + 1u, qb, c05); store4(ra + 2u, qb, c06); store4(ra + 3u, qb, c07);
  store4(rb, qa, c10); store4(rb + 1u, qa, c11); store4(rb + 2u, qa, c12); store4(rb + 3u, qa, c13);
  store4(rb, qb, c14); store4(rb + 1u, qb, c15); store4(rb + 2u, qb, c16); store4(rb + 3u, qb, c17);
}
