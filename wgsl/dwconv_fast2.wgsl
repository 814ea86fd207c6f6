// dwconv_fast2.wgsl: fused sum of up to three stride-1 depthwise branches (SLaK's K×5 + 5×K + 5×5,
// RepLKNet's K×K + 5×5, or a single DWConv), all over the same input x with the same output shape:
//   y[c,oy,ox] = bias[c] + Σ_b Σ_{ky,kx} w_b[c,ky,kx] · x[c, oy+ky−PH_b, ox+kx−PW_b]   (zero padding)
// Reference: engine/cpu/dwconv.go (DWConv, summed: op.Fused.DWConvSum by composition).
// Layout: x [C,H,W], w_b [C,KH_b,KW_b], bias [C] (ignored unless has_bias), y [C,OH,OW].
// Dispatch: (C, 1, 1) workgroups of WG invocations (substituted: 8 on CPU adapters, else 64),
// one per channel (the whole plane fits; the host falls back to dwconv_fast.wgsl otherwise).
// Every branch runs in one of two orientations of the same "wide" routine (taps along the
// staged rows): mode 0 on the plane as is (branches with KW ≥ KH), mode 1 on the plane staged
// TRANSPOSED (tall branches, K×5 → 5×K); modes 2 and 3 (orientation mode & 1) = merged into
// another branch's staged weights (the 5×5 shares the 5×K's rows: w[ky][kx] adds into tap
// kx + PW_t − PW_b; exact up to one f32 rounding of the sum of the two weights). kr, kc, pr, pc
// are the branch's row taps, column taps and paddings in its orientation.
// Workgroup memory s (vec4): [0, wbase) the plane, row stride sw4 = ⌈cols/4⌉ vec4 (columns past
// the map zero) with R−1 zero rows above and below; [wbase, …) each branch's weights in routine
// orientation, one row per row tap, WL f32 long (multiple of 4), tap t at WS + t (WS ≡ −PC mod 4,
// WS ≥ 3), zeros around, so 4-aligned groups of 4 taps load as one vec4.
// Each invocation owns an R×(4·NV) output block (R = {{R}}, NV = {{NV}}); blocks are numbered
// down the columns so that SIMD neighbours share their column (and so their clipped tap range).
// Per row tap, the window of each output row is NV+1 vec4 registers; per group of 4 taps: one
// aligned vec4 load per row for the new inputs, one vec4 weight load, and 4·R·NV vec4 FMAs whose
// inputs are constant swizzles of window registers m and m+1 (tap t: (r_m, r_m+1)[t .. t+3]).
// Chunks left of the plane or past sw4 load as zero (select); taps are clipped per block to
// those that touch the plane, then extended down to a 4-aligned group start.
// Tiling (host: engine/gpu/fast_params.go planDWFast2, dwFast2NV, dwFast2Rows): SLaK-T stage 0
// (56×56) takes R = 1, NV = 14: plane 56 × 14 = 784 vec4, weights 2 × 5 rows × 60 f32 = 150
// vec4 (the 5×5 inside the 5×51's), 934 ≤ {{SMEM4}} vec4 (15.6 KiB); per group of 4 taps
// 1 window + 1 weight vec4 load feed 56 vec4 FMAs. Stage 1 (28×28): R = 2, NV = 7; 14×14: R = 2,
// NV = 4. Window registers r<row>_<m>, accumulators a<row>_<m>: the substitutions ACC, WIN,
// GROUP and STORE are generated (dwFast2Subst).
// Pass 0 writes y = acc + bias; pass 1 (after barriers and re-staging) adds the tall branches
// (or writes y = acc + bias when there is no wide branch: pass 0 and its staging are skipped).
struct Params {
  c: u32, h: u32, w: u32, oh: u32,
  ow: u32, nb: u32, has_bias: u32, wbase: u32,
  mode0: u32, mode1: u32, mode2: u32, kr0: u32,
  kr1: u32, kr2: u32, kc0: u32, kc1: u32,
  kc2: u32, pr0: u32, pr1: u32, pr2: u32,
  pc0: u32, pc1: u32, pc2: u32, wo0: u32,
  wo1: u32, wo2: u32, wl0: u32, wl1: u32,
  wl2: u32, ws0: u32, ws1: u32, ws2: u32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w0: array<f32>;
@group(0) @binding(2) var<storage, read> w1: array<f32>;
@group(0) @binding(3) var<storage, read> w2: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

const R: i32 = {{R}};
const NV: i32 = {{NV}};
// SKIPZERO (substitution): skip the FMAs of a zero tap (uniform: one channel per workgroup).
const SKIPZERO: bool = {{SKIPZERO}};
var<workgroup> s: array<vec4<f32>, {{SMEM4}}>;

fn wt(b: u32, i: u32) -> f32 {
  switch b {
    case 0u: { return w0[i]; }
    case 1u: { return w1[i]; }
    default: { return w2[i]; }
  }
}

// stage fills s[0, rows·sw4) with the plane of channel c (mode 0) or its transpose (mode 1):
// staged row r holds input row (mode 0) or column (mode 1) r − (R−1), zeros outside the map.
fn stage(mode: u32, lid: i32, xb: i32, nri: i32, nci: i32, sw4: i32) {
  let W = i32(p.w);
  let n = (nri + 2 * (R - 1)) * sw4;
  for (var i = lid; i < n; i = i + {{WG}}) {
    let r = i / sw4 - (R - 1);
    let q = 4 * (i % sw4);
    var v = vec4<f32>();
    if (r >= 0 && r < nri) {
      for (var j = 0; j < 4; j = j + 1) {
        if (q + j < nci) {
          if (mode == 0u) { v[j] = x[xb + r * W + q + j]; } else { v[j] = x[xb + (q + j) * W + r]; }
        }
      }
    }
    s[i] = v;
  }
}

// ld is the staged vec4 at row offset o, chunk q, or zeros when q is outside the row.
fn ld(o: i32, q: i32, sw4: i32) -> vec4<f32> {
  let v = s[o + clamp(q, 0, sw4 - 1)];
  return select(vec4<f32>(), v, q >= 0 && q < sw4);
}

// only_tall: no branch runs in mode 0, so mode 1 writes y = v + bias instead of adding.
var<private> only_tall: bool;

// put stores 4 outputs at routine position (i, j..j+3): y[i, j+e] = v + bias in mode 0,
// y[j+e, i] += v in mode 1 (the routine ran on the transposed plane; = v + bias if only_tall).
fn put(mode: u32, yb: i32, i: i32, j: i32, v: vec4<f32>, bv: f32) {
  let OH = i32(p.oh);
  let OW = i32(p.ow);
  for (var e = 0; e < 4; e = e + 1) {
    if (mode == 0u) {
      if (i < OH && j + e < OW) { y[yb + i * OW + j + e] = v[e] + bv; }
    } else {
      if (j + e < OH && i < OW) {
        if (only_tall) { y[yb + (j + e) * OW + i] = v[e] + bv; } else { y[yb + (j + e) * OW + i] += v[e]; }
      }
    }
  }
}

// sweep runs the branches of one mode: routine output nro × nco, staged input nri × nci.
fn sweep(mode: u32, lid: i32, yb: i32, nro: i32, nco: i32, nri: i32, nci: i32, sw4: i32, bv: f32) {
  let nbr = (nro + R - 1) / R;
  let nbc = (nco + 4 * NV - 1) / (4 * NV);
  let wbase = i32(p.wbase);
  for (var blk = lid; blk < nbr * nbc; blk = blk + {{WG}}) {
    let i0 = (blk % nbr) * R;
    let j0 = (blk / nbr) * (4 * NV);
{{ACC}}
    for (var b = 0u; b < p.nb; b = b + 1u) {
      if (vec3<u32>(p.mode0, p.mode1, p.mode2)[b] != mode) { continue; }
      let KR = i32(vec3<u32>(p.kr0, p.kr1, p.kr2)[b]);
      let KC = i32(vec3<u32>(p.kc0, p.kc1, p.kc2)[b]);
      let PR = i32(vec3<u32>(p.pr0, p.pr1, p.pr2)[b]);
      let PC = i32(vec3<u32>(p.pc0, p.pc1, p.pc2)[b]);
      let WO = i32(vec3<u32>(p.wo0, p.wo1, p.wo2)[b]);
      let WL = i32(vec3<u32>(p.wl0, p.wl1, p.wl2)[b]);
      let WS = i32(vec3<u32>(p.ws0, p.ws1, p.ws2)[b]);
      let kylo = max(0, PR - i0 - (R - 1));
      let kyhi = min(KR - 1, nri - 1 + PR - i0);
      let kxlo = max(0, PC - j0 - (4 * NV - 1));
      let kxhi = min(KC - 1, nci - 1 + PC - j0);
      if (kxlo > kxhi) { continue; }
      let kx0 = kxlo - ((kxlo - PC) & 3); // j0 + kx0 − PC ≡ 0 (mod 4)
      let ng = (kxhi - kx0) / 4 + 1;
      let q = (j0 + kx0 - PC) / 4;        // exact
      for (var ky = kylo; ky <= kyhi; ky = ky + 1) {
        let wi = wbase + (WO + ky * WL + kx0 + WS) / 4;
{{WIN}}
        for (var g = 0; g < ng; g = g + 1) {
          let wv = s[wi + g];
{{GROUP}}
        }
      }
    }
{{STORE}}
  }
}

@compute @workgroup_size({{WG}})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lidu: u32) {
  let c = wg.x;
  let lid = i32(lidu);
  let H = i32(p.h);
  let W = i32(p.w);
  let xb = i32(c) * H * W;
  let yb = i32(c) * i32(p.oh) * i32(p.ow);
  var bv = 0.0;
  if (p.has_bias != 0u) { bv = bias[c]; }
  // weights: zero the region, then add each branch in turn (a merged branch adds into the
  // slots of its target, so the branches go one after the other)
  let wbase = i32(p.wbase);
  var wend = wbase; // one past the last staged weight vec4 (merged branches add no rows)
  for (var b = 0u; b < p.nb; b = b + 1u) {
    let rows = i32(vec3<u32>(p.kr0, p.kr1, p.kr2)[b]);
    let wl = i32(vec3<u32>(p.wl0, p.wl1, p.wl2)[b]);
    wend = max(wend, wbase + (i32(vec3<u32>(p.wo0, p.wo1, p.wo2)[b]) + rows * wl) / 4);
  }
  for (var i = wbase + lid; i < wend; i = i + {{WG}}) { s[i] = vec4<f32>(); }
  var tall = false;
  var wide = false;
  for (var b = 0u; b < p.nb; b = b + 1u) {
    let mode = vec3<u32>(p.mode0, p.mode1, p.mode2)[b];
    if (mode == 1u) { tall = true; }
    if (mode == 0u) { wide = true; }
  }
  only_tall = !wide;
  let sw4a = (W + 3) / 4;
  if (wide) { stage(0u, lid, xb, H, W, sw4a); }
  for (var b = 0u; b < p.nb; b = b + 1u) {
    workgroupBarrier();
    let mode = vec3<u32>(p.mode0, p.mode1, p.mode2)[b];
    let KR = i32(vec3<u32>(p.kr0, p.kr1, p.kr2)[b]);
    let KC = i32(vec3<u32>(p.kc0, p.kc1, p.kc2)[b]);
    let WO = i32(vec3<u32>(p.wo0, p.wo1, p.wo2)[b]);
    let WL = i32(vec3<u32>(p.wl0, p.wl1, p.wl2)[b]);
    let WS = i32(vec3<u32>(p.ws0, p.ws1, p.ws2)[b]);
    let tr = (mode & 1u) == 1u; // tall orientation: routine rows are kx, taps ky
    var KW = KC;
    if (tr) { KW = KR; }
    let n = KR * KC;
    for (var i = lid; i < n; i = i + {{WG}}) {
      let ky = i / KW;
      let kx = i % KW;
      var a = ky;
      var t = kx;
      if (tr) { a = kx; t = ky; }
      let slot = WO + a * WL + t + WS;
      s[wbase + slot / 4][slot % 4] += wt(b, c * u32(n) + u32(i));
    }
  }
  workgroupBarrier();
  if (wide) {
    sweep(0u, lid, yb, i32(p.oh), i32(p.ow), H, W, sw4a, bv);
    if (!tall) { return; }
    storageBarrier();
    workgroupBarrier();
  }
  let sw4b = (H + 3) / 4;
  stage(1u, lid, xb, W, H, sw4b);
  workgroupBarrier();
  sweep(1u, lid, yb, i32(p.ow), i32(p.oh), W, H, sw4b, bv);
}
