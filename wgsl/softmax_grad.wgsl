// softmax_grad.wgsl: input gradient of softmax, from the forward output y.
//   dx[i] = y[i] · (dy[i] − Σ_j y[j]·dy[j])
// Reference: engine/cpu/softmax.go (SoftmaxGradInput)
// Layout: y [N], dy [N], dx [N].
// Dispatch: one workgroup of 256 threads (grid 1×1×1); each thread strides over the vector, then a
//           tree reduction in workgroup memory (256 f32 = 1 KiB).
struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> P: Params;

var<workgroup> red: array<f32, 256>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_index) t: u32) {
  var sum = 0.0;
  for (var i = t; i < P.n; i += 256u) { sum += y[i] * dy[i]; }
  red[t] = sum;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] = red[t] + red[t + s]; }
    workgroupBarrier();
  }
  let dot = red[0];
  for (var i = t; i < P.n; i += 256u) { dx[i] = y[i] * (dy[i] - dot); }
}
