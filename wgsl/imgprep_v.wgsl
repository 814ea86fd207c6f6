// imgprep_v.wgsl: PIL's vertical bicubic pass (ImagingResampleVertical_8bpc), in exact integer
// arithmetic, for the output rows of the crop square only.
//   out[j, i].c = clip8(2^21 + Σ_{y < count[j]} tmp[min[j] − row_first + y, i].c · k[j, y])
//   clip8(s) = 0 if s ≤ 0, 255 if s ≥ 2^30, else s >> 22
// With need_v = 0 (the height keeps its size) out[j, i] = tmp[j, i] (the horizontal pass then ran
// over exactly the output rows).
// Reference: engine/imgprep/imgprep.go (Plan.Resample, vertical loop); coefficients from imgprep.NewPlan.
// Layout: tmp: u32 [rows, size] packed R | G<<8 | B<<16 (imgprep_h's output);
//         coef: i32 [2·size] (min, count) per output row, then [size, ksize] 22-bit weights;
//         out: u32 [size, size] packed the same way.
// Dispatch: workgroup 64×1×1, one thread per output pixel, index gid.x + gid.y·num_workgroups.x·64.
struct Params { size: u32, ksize: u32, row_first: u32, need_v: u32 }

@group(0) @binding(0) var<storage, read> tmp: array<u32>;
@group(0) @binding(1) var<storage, read> coef: array<i32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>;
@group(0) @binding(3) var<uniform> P: Params;

fn clip8(s: i32) -> u32 {
  if (s <= 0) { return 0u; }
  if (s >= 1073741824) { return 255u; } // 2^30 = 256 << 22
  return u32(s >> 22u);
}

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 64u;
  if (idx >= P.size * P.size) { return; }
  if (P.need_v == 0u) {
    out[idx] = tmp[idx];
    return;
  }
  let j = idx / P.size;
  let i = idx % P.size;
  let y0 = u32(coef[2u * j]) - P.row_first;
  let n = u32(coef[2u * j + 1u]);
  let kb = 2u * P.size + j * P.ksize;
  var s0: i32 = 2097152; // 2^21, PIL's rounding offset
  var s1: i32 = 2097152; // 2^21, PIL's rounding offset
  var s2: i32 = 2097152; // 2^21, PIL's rounding offset
  for (var y = 0u; y < n; y = y + 1u) {
    let k = coef[kb + y];
    let v = tmp[(y0 + y) * P.size + i];
    s0 = s0 + i32(v & 255u) * k;
    s1 = s1 + i32((v >> 8u) & 255u) * k;
    s2 = s2 + i32((v >> 16u) & 255u) * k;
  }
  out[idx] = clip8(s0) | (clip8(s1) << 8u) | (clip8(s2) << 16u);
}
