// dwconv_fast.wgsl: fused sum of up to three stride-1 depthwise branches (SLaK's K×5 + 5×K + 5×5,
// RepLKNet's K×K + 5×5, or a single DWConv), all over the same input x with the same output shape:
//   y[c,oy,ox] = bias[c] + Σ_b Σ_{ky,kx} w_b[c,ky,kx] · x[c, oy+ky−PH_b, ox+kx−PW_b]   (zero padding)
// Reference: engine/cpu/dwconv.go (DWConv, summed: op.Fused.DWConvSum by composition).
// Layout: x [C,H,W], w_b [C,KH_b,KW_b], bias [C] (ignored unless has_bias), y [C,OH,OW].
// Dispatch: (C, bands, 1) workgroups of 64 invocations; a workgroup owns one channel and one band
// of BH output rows (BH a multiple of 4; one band whenever the plane fits).
// Tiling: the input rows the band needs are staged once in workgroup memory with an M = 3 zero
// margin on every side ((H+6)·(W+6) f32 ≤ {{SMEM}} f32; 56×56 → 62·62·4 B = 15.0 KiB). Each
// invocation owns 4×4 output blocks. Tap ranges are clipped per block to the taps that touch the
// valid input (the margin absorbs the ≤ 3-row/column overhang of a block). Along a branch's longer
// axis a 4-wide register window slides one tap at a time: per tap 1 weight + 4 input loads feed
// 16 FMAs (0.31 loads per FMA). Weights are uniform across the workgroup (one channel).
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
  let nbx = (OW + 3) / 4;
  let nblk = nbx * ((bend - by0 + 3) / 4);
  var bv = 0.0;
  if (p.has_bias != 0u) { bv = bias[c]; }
  for (var blk = i32(lid); blk < nblk; blk = blk + 64) {
    let oy0 = by0 + (blk / nbx) * 4;
    let ox0 = (blk % nbx) * 4;
    var r = mat4x4<f32>(); // r[j][i]: output (oy0+j, ox0+i)
    for (var b = 0u; b < p.nb; b = b + 1u) {
      let KH = i32(vec3<u32>(p.kh0, p.kh1, p.kh2)[b]);
      let KW = i32(vec3<u32>(p.kw0, p.kw1, p.kw2)[b]);
      let PH = i32(vec3<u32>(p.ph0, p.ph1, p.ph2)[b]);
      let PW = i32(vec3<u32>(p.pw0, p.pw1, p.pw2)[b]);
      let kylo = max(0, PH - oy0 - 3);
      let kyhi = min(KH - 1, H - 1 + PH - oy0);
      let kxlo = max(0, PW - ox0 - 3);
      let kxhi = min(KW - 1, W - 1 + PW - ox0);
      let wb = c * u32(KH * KW);
      if (KW >= KH) {
        // slide along x: per tap one weight, one new input per output row
        for (var ky = kylo; ky <= kyhi; ky = ky + 1) {
          let r0 = (oy0 + ky - PH - t0) * SW + ox0 - PW + M;
          let r1 = r0 + SW;
          let r2 = r1 + SW;
          let r3 = r2 + SW;
          var a0 = vec4<f32>(0.0, s[r0 + kxlo], s[r0 + kxlo + 1], s[r0 + kxlo + 2]);
          var a1 = vec4<f32>(0.0, s[r1 + kxlo], s[r1 + kxlo + 1], s[r1 + kxlo + 2]);
          var a2 = vec4<f32>(0.0, s[r2 + kxlo], s[r2 + kxlo + 1], s[r2 + kxlo + 2]);
          var a3 = vec4<f32>(0.0, s[r3 + kxlo], s[r3 + kxlo + 1], s[r3 + kxlo + 2]);
          let wrow = wb + u32(ky * KW);
          for (var kx = kxlo; kx <= kxhi; kx = kx + 1) {
            let wv = wt(b, wrow + u32(kx));
            a0 = vec4<f32>(a0.yzw, s[r0 + kx + 3]);
            a1 = vec4<f32>(a1.yzw, s[r1 + kx + 3]);
            a2 = vec4<f32>(a2.yzw, s[r2 + kx + 3]);
            a3 = vec4<f32>(a3.yzw, s[r3 + kx + 3]);
            r[0] = fma(vec4<f32>(wv), a0, r[0]);
            r[1] = fma(vec4<f32>(wv), a1, r[1]);
            r[2] = fma(vec4<f32>(wv), a2, r[2]);
            r[3] = fma(vec4<f32>(wv), a3, r[3]);
          }
        }
      } else {
        // slide along y: per tap one weight, one new input per output column
        var q = mat4x4<f32>(); // q[i][j]: output (oy0+j, ox0+i)
        for (var kx = kxlo; kx <= kxhi; kx = kx + 1) {
          let c0 = (oy0 + kylo - PH - t0) * SW + ox0 + kx - PW + M;
          var a0 = vec4<f32>(0.0, s[c0], s[c0 + SW], s[c0 + 2 * SW]);
          var a1 = vec4<f32>(0.0, s[c0 + 1], s[c0 + 1 + SW], s[c0 + 1 + 2 * SW]);
          var a2 = vec4<f32>(0.0, s[c0 + 2], s[c0 + 2 + SW], s[c0 + 2 + 2 * SW]);
          var a3 = vec4<f32>(0.0, s[c0 + 3], s[c0 + 3 + SW], s[c0 + 3 + 2 * SW]);
          var o = c0 + 3 * SW;
          for (var ky = kylo; ky <= kyhi; ky = ky + 1) {
            let wv = wt(b, wb + u32(ky * KW + kx));
            a0 = vec4<f32>(a0.yzw, s[o]);
            a1 = vec4<f32>(a1.yzw, s[o + 1]);
            a2 = vec4<f32>(a2.yzw, s[o + 2]);
            a3 = vec4<f32>(a3.yzw, s[o + 3]);
            o = o + SW;
            q[0] = fma(vec4<f32>(wv), a0, q[0]);
            q[1] = fma(vec4<f32>(wv), a1, q[1]);
            q[2] = fma(vec4<f32>(wv), a2, q[2]);
            q[3] = fma(vec4<f32>(wv), a3, q[3]);
          }
        }
        r = r + transpose(q);
      }
    }
    let OH = i32(p.oh);
    let yb = i32(c) * OH * OW;
    for (var j = 0; j < 4; j = j + 1) {
      let oy = oy0 + j;
      if (oy < bend) {
        for (var i = 0; i < 4; i = i + 1) {
          let ox = ox0 + i;
          if (ox < OW) { y[yb + oy * OW + ox] = r[j][i] + bv; }
        }
      }
    }
  }
}
