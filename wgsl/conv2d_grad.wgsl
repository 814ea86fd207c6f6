// conv2d_grad.wgsl: input gradient of conv2d (a transposed convolution), direct kernel.
//   dx[i,iy,ix] = Σ_{o,ky,kx} w[o,i,ky,kx] · dy[o,oy,ox]   over oy·S+ky−PH = iy, ox·S+kx−PW = ix,
//                 0 ≤ oy < OH, 0 ≤ ox < OW
// i.e. the correlation of the stride-dilated dy with the 180°-rotated kernel, derived from the forward
// index map: with ty = iy+PH, tap ky contributes iff ty−ky ≥ 0, (ty−ky) mod S = 0 and (ty−ky)/S < OH,
// so ky runs from max(0, ty−(OH−1)·S) (rounded up to ky ≡ ty mod S) to min(KH−1, ty) in steps of S.
// Asymmetric padding (PH ≠ PW) and rows/columns the forward never reads (dx = 0 there) fall out of it.
// Reference: engine/cpu/conv2d.go (Conv2DGradInput)
// Layout: dy [Cout,OH,OW], w [Cout,Cin,KH,KW], dx [Cin,H,W]; f32, CHW.
// Dispatch: workgroup 8×8×1 over (ix, iy); grid (⌈W/8⌉, ⌈H/8⌉, Cin). One thread per input element.
struct Params {
  cin: u32, h: u32, w: u32, cout: u32,
  kh: u32, kw: u32, stride: u32, pad_h: u32,
  pad_w: u32, out_h: u32, out_w: u32,
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
  let i = gid.z;
  if (ix >= P.w || iy >= P.h || i >= P.cin) { return; }
  let s = i32(P.stride);
  let ty = i32(iy + P.pad_h);
  let tx = i32(ix + P.pad_w);
  let ky0 = first_tap(ty, max(0, ty - (i32(P.out_h) - 1) * s), s);
  let ky1 = min(i32(P.kh) - 1, ty);
  let kx0 = first_tap(tx, max(0, tx - (i32(P.out_w) - 1) * s), s);
  let kx1 = min(i32(P.kw) - 1, tx);
  var acc = 0.0;
  for (var o = 0u; o < P.cout; o += 1u) {
    let wbase = (o * P.cin + i) * P.kh * P.kw;
    let dbase = o * P.out_h * P.out_w;
    for (var ky = ky0; ky <= ky1; ky += s) {
      let drow = dbase + u32((ty - ky) / s) * P.out_w;
      let wrow = wbase + u32(ky) * P.kw;
      for (var kx = kx0; kx <= kx1; kx += s) {
        acc += wt[wrow + u32(kx)] * dy[drow + u32((tx - kx) / s)];
      }
    }
  }
  dx[(i * P.h + iy) * P.w + ix] = acc;
}
