// space_to_depth.wgsl: the im2col matrix of a patchify convolution (kernel = stride = S, no
// padding: SLaK/ConvNeXt's 4×4/4 stem and 2×2/2 downsamples), so that the convolution is a plain
// GEMM over it (engine/gpu/s2d.go runs matmul_lane.wgsl or matmul_fast_v4.wgsl next):
//   y[(c·S + ky)·S + kx, oy·OW + ox] = x[c, oy·S + ky, ox·S + kx]
// Row r = (c·S + ky)·S + kx is W's column order for W [Cout, Cin, S, S], so W is used as stored.
// Reference: engine/cpu/conv2d.go (Conv2D, whose sum runs over the same (c, ky, kx) terms).
// Layout: x [C, H, W] (H ≥ OH·S and W ≥ OW·S: rows and columns past the last patch are unread),
// y [C·S·S, OH·OW].
// Dispatch: workgroup 256×1×1, one invocation per output element j = gid.x + gid.y·(nwg.x·256),
// ⌈N/256⌉ groups spread over x and y (grid1D), N = C·S·S·OH·OW.
struct Params { n: u32, h: u32, w: u32, s: u32, oh: u32, ow: u32, pad0: u32, pad1: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * 256u;
  if (j >= p.n) { return; }
  let hw = p.oh * p.ow;
  let r = j / hw;
  let q = j - r * hw;
  let ss = p.s * p.s;
  let c = r / ss;
  let t = r - c * ss;
  let ky = t / p.s;
  let kx = t - ky * p.s;
  let oy = q / p.ow;
  let ox = q - oy * p.ow;
  y[j] = x[(c * p.h + oy * p.s + ky) * p.w + ox * p.s + kx];
}
