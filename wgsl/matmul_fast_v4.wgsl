// matmul_fast_v4.wgsl: matmul_fast.wgsl's register-blocked GEMM (pointwise layers, CHW) with
// vec4 loaders: the same formula, LayerNorm prologue and bias / GELU / layer-scale+residual epilogues:
//   x'[i,p] = LN ? (x[i,p] − mean[p])·rstd[p]·γ[i] + β[i] : x[i,p]
//   v[o,p]  = Σ_i W[o,i]·x'[i,p] + b[o]
//   y[o,p]  = v (EPI 0) | GELU(v) (EPI 1, exact-erf form, erf by Abramowitz–Stegun 7.1.26,
//             |err| < 1.5e-7, as gelu.wgsl) | r[o,p] + g[o]·v (EPI 2)
// Reference: engine/cpu/linear.go, layernorm.go, gelu.go, scaleresidual.go (op.Fused by composition).
// Layout: x [In,HW], W [Out,In], b [Out], stats [2,HW] (mean, rstd from fused_lnstats.wgsl),
// γ/β [In], r [Out,HW], g [Out], y [Out,HW]. Absent optional inputs are bound to a dummy buffer.
// Substitutions: LN (true/false), EPI (0/1/2), WG (8: T = 64, TK = 16; 16: T = 128, TK = 8),
// XV (HW % 4 == 0: x bound as array<vec4<f32>>), WV (In % 4 == 0: W read 4 k at a time as
// vec4<f32>). W's binding type WT and its access W1/W4 come from engine/gpu/half.go (halfW):
// f32 / vec4<f32>, or a half tensor as u32 / vec2<u32> words widened with unpack2x16float, or
// f16 / vec4<f16> under ENABLE = `enable f16;` (shader-f16); the widening is exact, so a half
// W gives bit for bit the result of its float32 expansion.
// Why: on lavapipe a memory access is a loop over the SIMD lanes whatever its width (a vec4 costs
// ~1.2 scalar loads, ~16 FMAs), so matmul_fast.wgsl's loaders (one scalar load and one scalar
// workgroup store per element: 64 memory operations per invocation per step at T = 64) cost about
// as much as its 1024 FMAs. Here a step's blocks are moved as vec4: W as [o][k/4] (neighbouring
// invocations read neighbouring k of a row), x as [k][p/4] (an invocation keeps the same 4 pixels
// through the step, so their LayerNorm statistics stay in registers): 16 operations at T = 64
// (4 at T = 128), or 4 scalar loads per vec4 where the row length is not a multiple of 4.
// Dispatch: (ceil(HW/TP), ceil(Out/TO), 1) workgroups of WG×WG invocations, TP = 4·WG·PB,
// TO = 4·WG·OB. A workgroup owns a TO (o) × TP (p) tile; invocation (tx, ty) owns the 4OB × 4PB
// block o ∈ o0 + {4ty..4ty+3, 4WG+4ty.., (OB = 4) 8WG+4ty.., 12WG+4ty..},
// p ∈ p0 + {4tx..4tx+3, 4WG+4tx.., (PB = 4) 8WG+4tx.., 12WG+4tx..}; PB = OB = 4 (16 × 16 blocks)
// fills the 16 KiB of workgroup memory (As 8 KiB, Bs 8 KiB).
// Per 4 k: 8 vec4 of As (its 8 rows, 4 k each) and 4PB of Bs feed 128·PB FMAs (PB = 4: 24 loads
// per 512 FMAs instead of 16 per 256; more accumulators spill, which costs less on lavapipe);
// OB = 4 is the same for rows (16 × 8 blocks, for HW < 128). Bounds are checked in the loaders (zeros past In/Out/HW), so 249/499-wide
// layers and HW = 49 need no padding.
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
// aux0..2 are stats, γ, β when LN, r, g (and a dummy) when EPI = 2. x, aux0 and y share the
// type XT: when HW % 4 == 0 every row of them starts 16-byte aligned, so the stats, the residual
// and the output are moved as vec4 too (one store per 4 outputs instead of 4).
@group(0) @binding(3) var<storage, read> aux0: array<XT>;
@group(0) @binding(4) var<storage, read> aux1: array<f32>;
@group(0) @binding(5) var<storage, read> aux2: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<XT>;
@group(0) @binding(7) var<uniform> p: Params;

const LN: bool = {{LN}};
const EPI: u32 = {{EPI}}u;
const XV: bool = {{XV}};
const WV: bool = {{WV}};
const WG: u32 = {{WG}}u;
const NT: u32 = WG * WG;         // invocations
const T: u32 = 8u * WG;          // tile edge
const T4: u32 = 2u * WG;         // vec4 per tile row of x
const TK: u32 = 128u / WG;       // k per step
const KQ: u32 = TK / 4u;         // vec4 per tile row of W
const OB: u32 = {{OB}}u;          // 4-row groups per invocation (2, or 4 with WG = 8)
const TO: u32 = 4u * WG * OB;    // tile height in rows
const PER: u32 = TO * KQ / NT;   // vec4 of W each invocation stages per step
const PB: u32 = {{PB}}u;          // 4-pixel groups per invocation (2, or 4 with WG = 8)
const TP: u32 = 4u * WG * PB;    // tile width in pixels
const T4P: u32 = WG * PB;        // vec4 per tile row of x
const PERX: u32 = TK * T4P / NT; // vec4 of x each invocation stages per step

var<workgroup> As: array<vec4<f32>, {{AS}}>; // [o][k/4], TO × KQ
var<workgroup> Bs: array<vec4<f32>, {{BS}}>; // [k][p/4], TK × T4P

//!include lib_erf
//!include lib_gemm_access
//!include lib_gemm_io

@compute @workgroup_size({{WG}}, {{WG}})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let p0 = wg.x * TP;
  let o0 = wg.y * TO;
  let tx = lid.x;
  let ty = lid.y;
  // x loader: this invocation's pixels q .. q+3 (the same in every step) and first k row
  let xq = p0 + 4u * (li % T4P);
  let xk = li / T4P;
  var mean = vec4<f32>();
  var rstd = vec4<f32>(1.0);
  if (LN) {
    for (var i = 0u; i < 4u; i = i + 1u) {
      if (xq + i < p.hw) {
        mean[i] = r1(xq + i);
        rstd[i] = r1(p.hw + xq + i);
      }
    }
  }
  var c00 = vec4<f32>(); var c01 = vec4<f32>(); var c02 = vec4<f32>(); var c03 = vec4<f32>();
  var c04 = vec4<f32>(); var c05 = vec4<f32>(); var c06 = vec4<f32>(); var c07 = vec4<f32>();
  var c10 = vec4<f32>(); var c11 = vec4<f32>(); var c12 = vec4<f32>(); var c13 = vec4<f32>();
  var c14 = vec4<f32>(); var c15 = vec4<f32>(); var c16 = vec4<f32>(); var c17 = vec4<f32>();
  // PB = 4: columns b2, b3
  var d00 = vec4<f32>(); var d01 = vec4<f32>(); var d02 = vec4<f32>(); var d03 = vec4<f32>();
  var d04 = vec4<f32>(); var d05 = vec4<f32>(); var d06 = vec4<f32>(); var d07 = vec4<f32>();
  var d10 = vec4<f32>(); var d11 = vec4<f32>(); var d12 = vec4<f32>(); var d13 = vec4<f32>();
  var d14 = vec4<f32>(); var d15 = vec4<f32>(); var d16 = vec4<f32>(); var d17 = vec4<f32>();
  // OB = 4: rows rc, rd × columns of b0, b1 (e), and with PB = 4 of b2, b3 (g)
  var e00 = vec4<f32>(); var e01 = vec4<f32>(); var e02 = vec4<f32>(); var e03 = vec4<f32>();
  var e04 = vec4<f32>(); var e05 = vec4<f32>(); var e06 = vec4<f32>(); var e07 = vec4<f32>();
  var e10 = vec4<f32>(); var e11 = vec4<f32>(); var e12 = vec4<f32>(); var e13 = vec4<f32>();
  var e14 = vec4<f32>(); var e15 = vec4<f32>(); var e16 = vec4<f32>(); var e17 = vec4<f32>();
  var g00 = vec4<f32>(); var g01 = vec4<f32>(); var g02 = vec4<f32>(); var g03 = vec4<f32>();
  var g04 = vec4<f32>(); var g05 = vec4<f32>(); var g06 = vec4<f32>(); var g07 = vec4<f32>();
  var g10 = vec4<f32>(); var g11 = vec4<f32>(); var g12 = vec4<f32>(); var g13 = vec4<f32>();
  var g14 = vec4<f32>(); var g15 = vec4<f32>(); var g16 = vec4<f32>(); var g17 = vec4<f32>();
  let ra = 4u * ty;
  let rb = ra + 4u * WG;
  let rc = ra + 8u * WG;  // OB = 4
  let rd = ra + 12u * WG;
  for (var k0 = 0u; k0 < p.inp; k0 = k0 + TK) {
    for (var j = 0u; j < PER; j = j + 1u) {
      let v = j * NT + li;
      // W: tile row v / KQ, k quad v mod KQ
      let ao = o0 + v / KQ;
      var av = vec4<f32>();
      if (ao < p.out) { av = ldw(ao, k0 + 4u * (v % KQ)); }
      As[v] = av;
    }
    for (var j = 0u; j < PERX; j = j + 1u) {
      // x: k row xk + j·NT/T4P of the step, pixels xq..xq+3
      let kk = xk + j * (NT / T4P);
      let k = k0 + kk;
      var bv = vec4<f32>();
      if (k < p.inp) {
        bv = ldx(k, xq);
        if (LN) { bv = select(vec4<f32>(), (bv - mean) * rstd * aux1[k] + aux2[k], xq + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(p.hw)); }
      }
      Bs[kk * T4P + (li % T4P)] = bv;
    }
    workgroupBarrier();
    for (var kq = 0u; kq < KQ; kq = kq + 1u) {
      let a0 = As[(ra + 0u) * KQ + kq]; let a1 = As[(ra + 1u) * KQ + kq];
      let a2 = As[(ra + 2u) * KQ + kq]; let a3 = As[(ra + 3u) * KQ + kq];
      let a4 = As[(rb + 0u) * KQ + kq]; let a5 = As[(rb + 1u) * KQ + kq];
      let a6 = As[(rb + 2u) * KQ + kq]; let a7 = As[(rb + 3u) * KQ + kq];
      var a8 = vec4<f32>(); var a9 = vec4<f32>(); var a10 = vec4<f32>(); var a11 = vec4<f32>();
      var a12 = vec4<f32>(); var a13 = vec4<f32>(); var a14 = vec4<f32>(); var a15 = vec4<f32>();
      if (OB == 4u) {
        a8 = As[(rc + 0u) * KQ + kq]; a9 = As[(rc + 1u) * KQ + kq];
        a10 = As[(rc + 2u) * KQ + kq]; a11 = As[(rc + 3u) * KQ + kq];
        a12 = As[(rd + 0u) * KQ + kq]; a13 = As[(rd + 1u) * KQ + kq];
        a14 = As[(rd + 2u) * KQ + kq]; a15 = As[(rd + 3u) * KQ + kq];
      }
      for (var i = 0u; i < 4u; i = i + 1u) {
        let kk = 4u * kq + i;
        let b0 = Bs[kk * T4P + tx];
        let b1 = Bs[kk * T4P + WG + tx];
        c00 = fma(vec4<f32>(a0[i]), b0, c00); c01 = fma(vec4<f32>(a1[i]), b0, c01);
        c02 = fma(vec4<f32>(a2[i]), b0, c02); c03 = fma(vec4<f32>(a3[i]), b0, c03);
        c04 = fma(vec4<f32>(a0[i]), b1, c04); c05 = fma(vec4<f32>(a1[i]), b1, c05);
        c06 = fma(vec4<f32>(a2[i]), b1, c06); c07 = fma(vec4<f32>(a3[i]), b1, c07);
        c10 = fma(vec4<f32>(a4[i]), b0, c10); c11 = fma(vec4<f32>(a5[i]), b0, c11);
        c12 = fma(vec4<f32>(a6[i]), b0, c12); c13 = fma(vec4<f32>(a7[i]), b0, c13);
        c14 = fma(vec4<f32>(a4[i]), b1, c14); c15 = fma(vec4<f32>(a5[i]), b1, c15);
        c16 = fma(vec4<f32>(a6[i]), b1, c16); c17 = fma(vec4<f32>(a7[i]), b1, c17);
        if (OB == 4u) { // rows rc, rd × columns qa, qb
          e00 = fma(vec4<f32>(a8[i]), b0, e00); e01 = fma(vec4<f32>(a9[i]), b0, e01);
          e02 = fma(vec4<f32>(a10[i]), b0, e02); e03 = fma(vec4<f32>(a11[i]), b0, e03);
          e04 = fma(vec4<f32>(a8[i]), b1, e04); e05 = fma(vec4<f32>(a9[i]), b1, e05);
          e06 = fma(vec4<f32>(a10[i]), b1, e06); e07 = fma(vec4<f32>(a11[i]), b1, e07);
          e10 = fma(vec4<f32>(a12[i]), b0, e10); e11 = fma(vec4<f32>(a13[i]), b0, e11);
          e12 = fma(vec4<f32>(a14[i]), b0, e12); e13 = fma(vec4<f32>(a15[i]), b0, e13);
          e14 = fma(vec4<f32>(a12[i]), b1, e14); e15 = fma(vec4<f32>(a13[i]), b1, e15);
          e16 = fma(vec4<f32>(a14[i]), b1, e16); e17 = fma(vec4<f32>(a15[i]), b1, e17);
        }
        if (PB == 4u) {
          let b2 = Bs[kk * T4P + 2u * WG + tx];
          let b3 = Bs[kk * T4P + 3u * WG + tx];
          d00 = fma(vec4<f32>(a0[i]), b2, d00); d01 = fma(vec4<f32>(a1[i]), b2, d01);
          d02 = fma(vec4<f32>(a2[i]), b2, d02); d03 = fma(vec4<f32>(a3[i]), b2, d03);
          d04 = fma(vec4<f32>(a0[i]), b3, d04); d05 = fma(vec4<f32>(a1[i]), b3, d05);
          d06 = fma(vec4<f32>(a2[i]), b3, d06); d07 = fma(vec4<f32>(a3[i]), b3, d07);
          d10 = fma(vec4<f32>(a4[i]), b2, d10); d11 = fma(vec4<f32>(a5[i]), b2, d11);
          d12 = fma(vec4<f32>(a6[i]), b2, d12); d13 = fma(vec4<f32>(a7[i]), b2, d13);
          d14 = fma(vec4<f32>(a4[i]), b3, d14); d15 = fma(vec4<f32>(a5[i]), b3, d15);
          d16 = fma(vec4<f32>(a6[i]), b3, d16); d17 = fma(vec4<f32>(a7[i]), b3, d17);
          if (OB == 4u) {
            g00 = fma(vec4<f32>(a8[i]), b2, g00); g01 = fma(vec4<f32>(a9[i]), b2, g01);
            g02 = fma(vec4<f32>(a10[i]), b2, g02); g03 = fma(vec4<f32>(a11[i]), b2, g03);
            g04 = fma(vec4<f32>(a8[i]), b3, g04); g05 = fma(vec4<f32>(a9[i]), b3, g05);
            g06 = fma(vec4<f32>(a10[i]), b3, g06); g07 = fma(vec4<f32>(a11[i]), b3, g07);
            g10 = fma(vec4<f32>(a12[i]), b2, g10); g11 = fma(vec4<f32>(a13[i]), b2, g11);
            g12 = fma(vec4<f32>(a14[i]), b2, g12); g13 = fma(vec4<f32>(a15[i]), b2, g13);
            g14 = fma(vec4<f32>(a12[i]), b3, g14); g15 = fma(vec4<f32>(a13[i]), b3, g15);
            g16 = fma(vec4<f32>(a14[i]), b3, g16); g17 = fma(vec4<f32>(a15[i]), b3, g17);
          }
        }
      }
    }
    workgroupBarrier();
  }
  let qa = p0 + 4u * tx;
  let qb = qa + 4u * WG;
  let oa = o0 + ra;
  let ob = o0 + rb;
  store4(oa, qa, c00); store4(oa + 1u, qa, c01); store4(oa + 2u, qa, c02); store4(oa + 3u, qa, c03);
  store4(oa, qb, c04); store4(oa + 1u, qb, c05); store4(oa + 2u, qb, c06); store4(oa + 3u, qb, c07);
  store4(ob, qa, c10); store4(ob + 1u, qa, c11); store4(ob + 2u, qa, c12); store4(ob + 3u, qa, c13);
  store4(ob, qb, c14); store4(ob + 1u, qb, c15); store4(ob + 2u, qb, c16); store4(ob + 3u, qb, c17);
  if (OB == 4u) {
    let oc = o0 + rc;
    let od = o0 + rd;
    store4(oc, qa, e00); store4(oc + 1u, qa, e01); store4(oc + 2u, qa, e02); store4(oc + 3u, qa, e03);
    store4(oc, qb, e04); store4(oc + 1u, qb, e05); store4(oc + 2u, qb, e06); store4(oc + 3u, qb, e07);
    store4(od, qa, e10); store4(od + 1u, qa, e11); store4(od + 2u, qa, e12); store4(od + 3u, qa, e13);
    store4(od, qb, e14); store4(od + 1u, qb, e15); store4(od + 2u, qb, e16); store4(od + 3u, qb, e17);
  }
  if (PB == 4u) {
    let qc = qa + 8u * WG;
    let qd = qa + 12u * WG;
    store4(oa, qc, d00); store4(oa + 1u, qc, d01); store4(oa + 2u, qc, d02); store4(oa + 3u, qc, d03);
    store4(oa, qd, d04); store4(oa + 1u, qd, d05); store4(oa + 2u, qd, d06); store4(oa + 3u, qd, d07);
    store4(ob, qc, d10); store4(ob + 1u, qc, d11); store4(ob + 2u, qc, d12); store4(ob + 3u, qc, d13);
    store4(ob, qd, d14); store4(ob + 1u, qd, d15); store4(ob + 2u, qd, d16); store4(ob + 3u, qd, d17);
    if (OB == 4u) {
      let oc = o0 + rc;
      let od = o0 + rd;
      store4(oc, qc, g00); store4(oc + 1u, qc, g01); store4(oc + 2u, qc, g02); store4(oc + 3u, qc, g03);
      store4(oc, qd, g04); store4(oc + 1u, qd, g05); store4(oc + 2u, qd, g06); store4(oc + 3u, qd, g07);
      store4(od, qc, g10); store4(od + 1u, qc, g11); store4(od + 2u, qc, g12); store4(od + 3u, qc, g13);
      store4(od, qd, g14); store4(od + 1u, qd, g15); store4(od + 2u, qd, g16); store4(od + 3u, qd, g17);
    }
  }
}
