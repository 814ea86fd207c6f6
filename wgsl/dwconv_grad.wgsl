// dwconv_grad.wgsl: input gradient of the depthwise convolution, direct kernel.
//   dx[c,iy,ix] = Σ_{ky,kx} w[c,ky,kx] · dy[c,oy,ox]   over oy·S+ky−PH = iy, ox·S+kx−PW = ix,
//                 0 ≤ oy < OH, 0 ≤ ox < OW
// i.e. the correlation of the stride-dilated dy with the 180°-rotated kernel, derived from the forward
// index map: with ty = iy+PH, tap ky contributes iff ty−ky ≥ 0, (ty−ky) mod S = 0 and (ty−ky)/S < OH,
// so ky runs from max(0, ty−(OH−1)·S) (rounded up to ky ≡ ty mod S) to min(KH−1, ty) in steps of S.
// This handles stride 2, asymmetric padding and input rows the forward never reads (dx = 0).
// Reference: engine/cpu/dwconv.go (DWConvGradInput)
// Layout: dy [C,OH,OW], w [C,KH,KW], dx [C,H,W]; f32, CHW.
// Dispatch: workgroup 8×8×1 over (ix, iy); grid (⌈W/8⌉, ⌈H/8⌉, C). One thread per input element.
struct Params {
  c: u32, h: u32, w: u32, kh: u32,
  kw: u32, stride: u32, pad_h: u32, pad_w: u32,
  out_h: u32, out_w: u32,
}

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

// first tap k ≥ lo with k ≡ t (mod s); t ≥ lo is guaranteed by the callers (t ≥ 0, lo ≤ t).
fn first_tap(t: i32, lo: i32, s: i32) -> i32 {
  return lo + (t - lo) % s;
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let ix = gid.x;
  let iy = gid.y;
  let c = gid.z;
  if (ix >= P.w || iy >= P.h || c >= P.c) { return; }
  let s = i32(P.stride);
  let ty = i32(iy + P.pad_h);
  let tx = i32(ix + P.pad_w);
  let ky0 = first_tap(ty, max(0, ty - (i32(P.out_h) - 1) * s), s);
  let ky1 = min(i32(P.kh) - 1, ty);
  let kx0 = first_tap(tx, max(0, tx - (i32(P.out_w) - 1) * s), s);
  let kx1 = min(i32(P.kw) - 1, tx);
  let wbase = c * P.kh * P.kw;
  let dbase = c * P.out_h * P.out_w;
  var acc = 0.0;
  for (var ky = ky0; ky <= ky1; ky += s) {
    let drow = dbase + u32((ty - ky) / s) * P.out_w;
    let wrow = wbase + u32(ky) * P.kw;
    for (var kx = kx0; kx <= kx1; kx += s) {
      acc += wt[wrow + u32(kx)] * dy[drow + u32((tx - kx) / s)];
    }
  }
  dx[(c * P.h + iy) * P.w + ix] = acc;
}
