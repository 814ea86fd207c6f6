// dwconv_fast.wgsl: fused sum of up to three stride-1 depthwise branches (SLaK's K×5 + 5×K + 5×5,
// RepLKNet's K×K + 5×5, or a single DWConv), all over the same input x with the same output shape:
//   y[c,oy,ox] = bias[c] + Σ_b Σ_{ky,kx} w_b[c,ky,kx] · x[c, oy+ky−PH_b, ox+kx−PW_b]   (zero padding)
// Reference: engine/cpu/dwconv.go (DWConv, summed: op.Fused.DWConvSum by composition).
// Layout: x [C,H,W], w_b [C,KH_b,KW_b], bias [C] (ignored unless has_bias), y [C,OH,OW].
// Dispatch: (C, bands, 1) workgroups of 64 invocations; a workgroup owns one channel and one band
// of BH output rows (BH a multiple of 4; one band whenever the plane fits).
// Tiling: the input rows the band needs are staged once in workgroup memory with an M = 3 zero
// margin on every side ((H+6)·(W+6) f32 ≤ {{SMEM}} f32; 56×56 → 62·62·4 B = 15.0 KiB).
// Pass A runs the branches with KW ≥ KH (5×K, 5×5) on 2×16 output blocks (2 rows × 16 columns
// per invocation) and writes y = acc + bias; pass B (after a storage barrier) runs the tall
// branches (K×5) on 16×2 blocks and adds into y. In both, a 16-wide register window per row (or
// column) slides along the branch's longer axis one tap at a time: per tap 1 weight + 2 input
// loads feed 32 FMAs (0.09 loads per FMA). Tap ranges are clipped per block to the taps that touch valid input; the
// margin absorbs the 3-pixel overhang across the window and loads along it past the map are
// masked to 0. Weights are uniform across the workgroup (one channel).
// Params: branch b ∈ {0,1,2} has kernel kh_b×kw_b and padding (ph_b, pw_b); max_up = max_b ph_b,
// max_down = max_b (kh_b − 1 − ph_b) clipped at 0 (the rows a band needs above and below itself).
struct Params {
  c: u32, h: u32, w: u32, oh: u32,
  ow: u32, nb: u32, bh: u32, has_bias: u32,
  max_up: u32, max_down: u32,
  kh0: u32, kh1: u32, kh2: u32, kw0: u32, kw1: u32, kw2: u32,
  ph0: u32, ph1: u32, ph2: u32, pw0: u32, pw1: u32, pw2: u32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w0: array<f32>;
@group(0) @binding(2) var<storage, read> w1: array<f32>;
@group(0) @binding(3) var<storage, read> w2: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

const M: i32 = 3;
// SKIPZERO (substitution): skip the FMAs of zero taps. Weights are uniform across the workgroup
// (one channel), so the test is uniform control flow; the window still advances over every tap.
const SKIPZERO: bool = {{SKIPZERO}};
var<workgroup> s: array<f32, {{SMEM}}>;

fn wt(b: u32, i: u32) -> f32 {
  switch b {
    case 0u: { return w0[i]; }
    case 1u: { return w1[i]; }
    default: { return w2[i]; }
  }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let c = wg.x;
  let H = i32(p.h);
  let W = i32(p.w);
  let SW = W + 2 * M;
  let by0 = i32(wg.y * p.bh);
  let bend = min(by0 + i32(p.bh), i32(p.oh));
  // input rows [t0, t1) staged, rows outside [0, H) as zeros
  let t0 = min(max(0, by0 - i32(p.max_up)), H) - M;
  let t1 = min(H, bend - 1 + i32(p.max_down) + 1) + M;
  let n = (t1 - t0) * SW;
  let xb = i32(c) * H * W;
  for (var i = i32(lid); i < n; i = i + 64) {
    let iy = t0 + i / SW;
    let ix = i % SW - M;
    var v = 0.0;
    if (iy >= 0 && iy < H && ix >= 0 && ix < W) { v = x[xb + iy * W + ix]; }
    s[i] = v;
  }
  workgroupBarrier();

  let OW = i32(p.ow);
  let OH = i32(p.oh);
  let yb = i32(c) * OH * OW;
  var bv = 0.0;
  if (p.has_bias != 0u) { bv = bias[c]; }
  let lo = max(0, t0) - t0;          // first tile row holding real data
  let hi = min(H, t1) - t0;          // one past the last

  // pass A: branches with KW >= KH on 2 (rows) × 16 (columns) blocks, sliding along x
  let nbxA = (OW + 15) / 16;
  let nblkA = nbxA * ((bend - by0 + 1) / 2);
  for (var blk = i32(lid); blk < nblkA; blk = blk + 64) {
    let oy0 = by0 + (blk / nbxA) * 2;
    let ox0 = (blk % nbxA) * 16;
    var g00 = vec4<f32>(); var g01 = vec4<f32>(); var g02 = vec4<f32>(); var g03 = vec4<f32>();
    var g10 = vec4<f32>(); var g11 = vec4<f32>(); var g12 = vec4<f32>(); var g13 = vec4<f32>();
    for (var b = 0u; b < p.nb; b = b + 1u) {
      let KH = i32(vec3<u32>(p.kh0, p.kh1, p.kh2)[b]);
      let KW = i32(vec3<u32>(p.kw0, p.kw1, p.kw2)[b]);
      if (KW < KH) { continue; }
      let PH = i32(vec3<u32>(p.ph0, p.ph1, p.ph2)[b]);
      let PW = i32(vec3<u32>(p.pw0, p.pw1, p.pw2)[b]);
      let kylo = max(0, PH - oy0 - 1);
      let kyhi = min(KH - 1, H - 1 + PH - oy0);
      let kxlo = max(0, PW - ox0 - 15);
      let kxhi = min(KW - 1, W - 1 + PW - ox0);
      let wb = c * u32(KH * KW);
      for (var ky = kylo; ky <= kyhi; ky = ky + 1) {
        // tile offsets of input (row oy0 + j + ky − PH, column 0), j = 0, 1
        let q0 = (oy0 + ky - PH - t0) * SW + M;
        let q1 = q0 + SW;
        let cx = ox0 + kxlo - PW; // input column of window position 0 at the first tap
        var a0 = vec4<f32>(); var a1 = vec4<f32>(); var a2 = vec4<f32>(); var a3 = vec4<f32>();
        var e0 = vec4<f32>(); var e1 = vec4<f32>(); var e2 = vec4<f32>(); var e3 = vec4<f32>();
        // preload window positions 0..14 (position 15 comes in with the first tap)
        for (var i = 0; i < 15; i = i + 1) {
          let col = cx + i;
          let ok = col >= 0 && col < W;
          let k = clamp(col, -M, W + M - 1);
          a0 = vec4<f32>(a0.yzw, a1.x); a1 = vec4<f32>(a1.yzw, a2.x); a2 = vec4<f32>(a2.yzw, a3.x);
          a3 = vec4<f32>(a3.yzw, select(0.0, s[q0 + k], ok));
          e0 = vec4<f32>(e0.yzw, e1.x); e1 = vec4<f32>(e1.yzw, e2.x); e2 = vec4<f32>(e2.yzw, e3.x);
          e3 = vec4<f32>(e3.yzw, select(0.0, s[q1 + k], ok));
        }
        let wrow = wb + u32(ky * KW);
        for (var kx = kxlo; kx <= kxhi; kx = kx + 1) {
          let wv = vec4<f32>(wt(b, wrow + u32(kx)));
          let col = ox0 + kx - PW + 15;
          let ok = col >= 0 && col < W;
          let k = clamp(col, -M, W + M - 1);
          a0 = vec4<f32>(a0.yzw, a1.x); a1 = vec4<f32>(a1.yzw, a2.x); a2 = vec4<f32>(a2.yzw, a3.x);
          a3 = vec4<f32>(a3.yzw, select(0.0, s[q0 + k], ok));
          e0 = vec4<f32>(e0.yzw, e1.x); e1 = vec4<f32>(e1.yzw, e2.x); e2 = vec4<f32>(e2.yzw, e3.x);
          e3 = vec4<f32>(e3.yzw, select(0.0, s[q1 + k], ok));
          if (!SKIPZERO || wv.x != 0.0) {
            g00 = fma(wv, a0, g00); g01 = fma(wv, a1, g01); g02 = fma(wv, a2, g02); g03 = fma(wv, a3, g03);
            g10 = fma(wv, e0, g10); g11 = fma(wv, e1, g11); g12 = fma(wv, e2, g12); g13 = fma(wv, e3, g13);
          }
        }
      }
    }
    var G = mat4x4<f32>(g00, g01, g02, g03); // G[m][i]: row oy0, column ox0 + 4m + i
    var F = mat4x4<f32>(g10, g11, g12, g13); // row oy0 + 1
    for (var m = 0; m < 4; m = m + 1) {
      for (var i = 0; i < 4; i = i + 1) {
        let ox = ox0 + 4 * m + i;
        if (ox < OW) {
          if (oy0 < bend) { y[yb + oy0 * OW + ox] = G[m][i] + bv; }
          if (oy0 + 1 < bend) { y[yb + (oy0 + 1) * OW + ox] = F[m][i] + bv; }
        }
      }
    }
  }
  storageBarrier();

  // pass B: branches with KH > KW on 8 (rows) × 4 (columns) blocks, sliding along y, added to y
  var tall = false;
  for (var b = 0u; b < p.nb; b = b + 1u) {
    if (vec3<u32>(p.kh0, p.kh1, p.kh2)[b] > vec3<u32>(p.kw0, p.kw1, p.kw2)[b]) { tall = true; }
  }
  if (!tall) { return; }
  let nbxB = (OW + 1) / 2;
  let nblkB = nbxB * ((bend - by0 + 15) / 16);
  for (var blk = i32(lid); blk < nblkB; blk = blk + 64) {
    let oy0 = by0 + (blk / nbxB) * 16;
    let ox0 = (blk % nbxB) * 2;
    // h0m / h1m: rows oy0 + 4m .. oy0 + 4m + 3 of output columns ox0 and ox0 + 1
    var h00 = vec4<f32>(); var h01 = vec4<f32>(); var h02 = vec4<f32>(); var h03 = vec4<f32>();
    var h10 = vec4<f32>(); var h11 = vec4<f32>(); var h12 = vec4<f32>(); var h13 = vec4<f32>();
    for (var b = 0u; b < p.nb; b = b + 1u) {
      let KH = i32(vec3<u32>(p.kh0, p.kh1, p.kh2)[b]);
      let KW = i32(vec3<u32>(p.kw0, p.kw1, p.kw2)[b]);
      if (KH <= KW) { continue; }
      let PH = i32(vec3<u32>(p.ph0, p.ph1, p.ph2)[b]);
      let PW = i32(vec3<u32>(p.pw0, p.pw1, p.pw2)[b]);
      let kylo = max(0, PH - oy0 - 15);
      let kyhi = min(KH - 1, H - 1 + PH - oy0);
      let kxlo = max(0, PW - ox0 - 1);
      let kxhi = min(KW - 1, W - 1 + PW - ox0);
      let wb = c * u32(KH * KW);
      for (var kx = kxlo; kx <= kxhi; kx = kx + 1) {
        let cc = ox0 + kx - PW + M;    // tile column of output column ox0 at this tap
        let ry = oy0 + kylo - PH - t0; // tile row of window position 0 at the first tap
        var a0 = vec4<f32>(); var a1 = vec4<f32>(); var a2 = vec4<f32>(); var a3 = vec4<f32>();
        var e0 = vec4<f32>(); var e1 = vec4<f32>(); var e2 = vec4<f32>(); var e3 = vec4<f32>();
        for (var i = 0; i < 15; i = i + 1) {
          let tr = ry + i;
          let ok = tr >= lo && tr < hi;
          let o = clamp(tr, 0, t1 - t0 - 1) * SW + cc;
          a0 = vec4<f32>(a0.yzw, a1.x); a1 = vec4<f32>(a1.yzw, a2.x); a2 = vec4<f32>(a2.yzw, a3.x);
          a3 = vec4<f32>(a3.yzw, select(0.0, s[o], ok));
          e0 = vec4<f32>(e0.yzw, e1.x); e1 = vec4<f32>(e1.yzw, e2.x); e2 = vec4<f32>(e2.yzw, e3.x);
          e3 = vec4<f32>(e3.yzw, select(0.0, s[o + 1], ok));
        }
        for (var ky = kylo; ky <= kyhi; ky = ky + 1) {
          let wv = vec4<f32>(wt(b, wb + u32(ky * KW + kx)));
          let tr = oy0 + ky - PH - t0 + 15;
          let ok = tr >= lo && tr < hi;
          let o = clamp(tr, 0, t1 - t0 - 1) * SW + cc;
          a0 = vec4<f32>(a0.yzw, a1.x); a1 = vec4<f32>(a1.yzw, a2.x); a2 = vec4<f32>(a2.yzw, a3.x);
          a3 = vec4<f32>(a3.yzw, select(0.0, s[o], ok));
          e0 = vec4<f32>(e0.yzw, e1.x); e1 = vec4<f32>(e1.yzw, e2.x); e2 = vec4<f32>(e2.yzw, e3.x);
          e3 = vec4<f32>(e3.yzw, select(0.0, s[o + 1], ok));
          if (!SKIPZERO || wv.x != 0.0) {
            h00 = fma(wv, a0, h00); h01 = fma(wv, a1, h01); h02 = fma(wv, a2, h02); h03 = fma(wv, a3, h03);
            h10 = fma(wv, e0, h10); h11 = fma(wv, e1, h11); h12 = fma(wv, e2, h12); h13 = fma(wv, e3, h13);
          }
        }
      }
    }
    var P = mat4x4<f32>(h00, h01, h02, h03); // P[m][j]: column ox0, row oy0 + 4m + j
    var Q = mat4x4<f32>(h10, h11, h12, h13); // column ox0 + 1
    for (var m = 0; m < 4; m = m + 1) {
      for (var j = 0; j < 4; j = j + 1) {
        let oy = oy0 + 4 * m + j;
        if (oy < bend) {
          if (ox0 < OW) { y[yb + oy * OW + ox0] += P[m][j]; }
          if (ox0 + 1 < OW) { y[yb + oy * OW + ox0 + 1] += Q[m][j]; }
        }
      }
    }
  }
}
