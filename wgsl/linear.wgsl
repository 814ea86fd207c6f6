// linear.wgsl: pointwise (1×1) layer, or fully connected when HW = 1, direct kernel.
//   y[o,p] = b[o] + Σ_i W[o,i] · x[i,p]
// Reference: engine/cpu/linear.go
// Layout: x [In,HW], W [Out,In] (nn.Linear), b [Out] (a 4-byte dummy when BIAS is false), y [Out,HW].
// Element i = o·HW + p, so neighbouring threads share W's row and read x coalesced over p.
// Dispatch: workgroup 256×1×1, one thread per element i = gid.x + gid.y·(num_workgroups.x·256); the
//           launcher splits ⌈N/256⌉ groups over x and y so no dimension exceeds 65535.
// Substitutions: {{BIAS}} = true | false; WT, W1, ENABLE: W's binding type and element access
// (f32; a half tensor's u32 words widened exactly with unpack2x16float; f16 under
// `enable f16;`), from engine/gpu/half.go (halfW).
{{ENABLE}}
const BIAS: bool = {{BIAS}};

struct Params { n_in: u32, n_out: u32, hw: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
alias WT = {{WT}};
@group(0) @binding(1) var<storage, read> wt: array<WT>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

fn w1(i: u32) -> f32 { return {{W1}}; }

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = gid.x + gid.y * nwg.x * 256u;
  if (idx >= P.n_out * P.hw) { return; }
  let o = idx / P.hw;
  let p = idx % P.hw;
  var acc = 0.0;
  if (BIAS) { acc = bias[o]; }
  let wrow = o * P.n_in;
  for (var i = 0u; i < P.n_in; i += 1u) {
    acc += w1(wrow + i) * x[i * P.hw + p];
  }
  y[idx] = acc;
}
