// imgprep_h.wgsl: PIL's horizontal bicubic pass (ImagingResampleHorizontal_8bpc), in exact integer
// arithmetic, for the output columns of the crop square only.
//   tmp[r, i].c = clip8(2^21 + Σ_{x < count[i]} src[r, min[i] + x].c · k[i, x])      c ∈ {R, G, B}
//   clip8(s) = 0 if s ≤ 0, 255 if s ≥ 2^30, else s >> 22          (22 = PIL's PRECISION_BITS for 8 bits)
// With need_h = 0 (the width keeps its size, PIL skips the pass) tmp[r, i] = src[r, left + i].
// Sums stay below 2^31: 255 · Σ|k| < 255 · 1.2 · 2^22.
// Reference: engine/imgprep/imgprep.go (Plan.Resample, horizontal loop); coefficients from imgprep.NewPlan.
// Layout: src: a band of `rows` input rows as bytes, RGB (ch = 3) or RGBA (ch = 4, alpha ignored),
//           row-major, packed four per u32 little-endian; the launcher splits the rows the crop needs
//           into bands that fit a storage binding, band r0 writing tmp rows [row_off, row_off+rows);
//         coef: i32 [2·size] (min, count) per output column, then [size, ksize] 22-bit weights;
//         tmp: u32 [all rows, size], one pixel per word: R | G<<8 | B<<16.
// Dispatch: workgroup 64×1×1, one thread per (r, i), index gid.x + gid.y·num_workgroups.x·64 (grid1D).
struct Params { src_w: u32, ch: u32, rows: u32, size: u32, ksize: u32, need_h: u32, left: u32, row_off: u32 }

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read> coef: array<i32>;
@group(0) @binding(2) var<storage, read_write> tmp: array<u32>;
@group(0) @binding(3) var<uniform> P: Params;

fn byte_at(i: u32) -> i32 {
  return i32((src[i >> 2u] >> ((i & 3u) * 8u)) & 255u);
}

fn clip8(s: i32) -> u32 {
  if (s <= 0) { return 0u; }
  if (s >= 1073741824) { return 255u; } // 2^30 = 256 << 22
  return u32(s >> 22u);
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= P.rows * P.size) { return; }
  let r = idx / P.size;
  let i = idx % P.size;
  let row = r * P.src_w * P.ch;
  if (P.need_h == 0u) {
    let p = row + (P.left + i) * P.ch;
    tmp[P.row_off * P.size + idx] = u32(byte_at(p)) | (u32(byte_at(p + 1u)) << 8u) | (u32(byte_at(p + 2u)) << 16u);
    return;
  }
  let x0 = u32(coef[2u * i]);
  let n = u32(coef[2u * i + 1u]);
  let kb = 2u * P.size + i * P.ksize;
  var s0: i32 = 2097152; // 2^21, PIL's rounding offset
  var s1: i32 = 2097152; // 2^21, PIL's rounding offset
  var s2: i32 = 2097152; // 2^21, PIL's rounding offset
  for (var x = 0u; x < n; x = x + 1u) {
    let k = coef[kb + x];
    let p = row + (x0 + x) * P.ch;
    s0 = s0 + byte_at(p) * k;
    s1 = s1 + byte_at(p + 1u) * k;
    s2 = s2 + byte_at(p + 2u) * k;
  }
  tmp[P.row_off * P.size + idx] = clip8(s0) | (clip8(s1) << 8u) | (clip8(s2) << 16u);
}
