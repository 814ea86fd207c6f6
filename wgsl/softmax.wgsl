// softmax.wgsl: softmax over a vector.
//   y[i] = exp(x[i] − m) / Σ_j exp(x[j] − m),  m = max_j x[j]
// Reference: engine/cpu/softmax.go
// Layout: x [N], y [N].
// Dispatch: one workgroup of 256 threads (grid 1×1×1); each thread strides over the vector, then a
//           tree reduction in workgroup memory (256 f32 = 1 KiB).
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> P: Params;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_index) t: u32) {
  var m = -3.402823e38;
  for (var i = t; i < P.n; i += 256u) { m = max(m, x[i]); }
  red[t] = m;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] = max(red[t], red[t + s]); }
    workgroupBarrier();
  }
  let mx = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var i = t; i < P.n; i += 256u) { sum += exp(x[i] - mx); }
  red[t] = sum;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] = red[t] + red[t + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  for (var i = t; i < P.n; i += 256u) { y[i] = exp(x[i] - mx) / total; }
}
