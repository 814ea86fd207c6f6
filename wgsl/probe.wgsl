// probe.wgsl: y[i] = x[i] + 1. Reference: none (a smoke test of the device and pipeline cache).
@group(0) @binding(0) var<storage, read_write> buf: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if (gid.x < arrayLength(&buf)) { buf[gid.x] = buf[gid.x] + 1.0; }
}
