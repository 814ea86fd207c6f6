// imgprep_norm.wgsl: ToTensor + Normalize of the resized crop, HWC bytes → CHW float32.
//   y[c, p] = lut[c·256 + byte_c(px[p])],   lut[c·256 + v] = (f32(v)/255 − mean[c]) / std[c]
// The table is computed on the host by engine/imgprep.NormalizeValue (torch's float32 operations),
// so the result is bit-identical on every GPU (WGSL's f32 division is only accurate to 2.5 ULP).
// Reference: engine/imgprep/imgprep.go (Normalize, NormalizeValue).
// Layout: px: u32 [n] packed R | G<<8 | B<<16 (imgprep_v's output, n = size²); lut: f32 [3, 256];
//         y: f32 [3, n].
// Dispatch: workgroup 64×1×1, one thread per pixel, index gid.x + gid.y·num_workgroups.x·64.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> px: array<u32>;
@group(0) @binding(1) var<storage, read> lut: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let p = gid.x + gid.y * nwg.x * 64u;
  if (p >= P.n) { return; }
  let v = px[p];
  y[p] = lut[v & 255u];
  y[P.n + p] = lut[256u + ((v >> 8u) & 255u)];
  y[2u * P.n + p] = lut[512u + ((v >> 16u) & 255u)];
}
