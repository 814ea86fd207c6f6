// half_unpack.wgsl: float32 expansion of a half tensor (binary16 packed two per u32, element
// 2j in the low 16 bits of word j, 2j+1 in the high 16 bits):
//   y[i] = f32(binary16 element i)      (exact: every binary16 value is an f32 value)
// Reference: engine/cpu/ has no such op (its tensors are float32); the host widening is
// op.F16ToF32 in engine/op/half.go (= weights.Float32FromBits), which Download uses.
// Layout: h [ceil(N/2)] u32 words (the buffer may hold padding words past them), y [N] f32.
// Dispatch: workgroup 256×1×1, one invocation per word j = gid.x + gid.y·(num_workgroups.x·256),
// ⌈⌈N/2⌉/256⌉ groups spread over x and y (grid1D); the last word of an odd N writes one value.
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> h: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * 256u;
  if (2u * j >= p.n) { return; }
  let v = unpack2x16float(h[j]);
  y[2u * j] = v.x;
  if (2u * j + 1u < p.n) { y[2u * j + 1u] = v.y; }
}
