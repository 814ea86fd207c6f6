// conv2d.wgsl: dense 2-D convolution (cross-correlation, PyTorch convention), direct kernel.
//   y[o,oy,ox] = b[o] + Σ_{i,ky,kx} w[o,i,ky,kx] · x[i, oy·S+ky−PH, ox·S+kx−PW]      (zero padding)
// Reference: engine/cpu/conv2d.go
// Layout: x [Cin,H,W], w [Cout,Cin,KH,KW] (OIHW), b [Cout] (a 4-byte dummy when BIAS is false),
//         y [Cout,OH,OW]; f32, CHW, batch 1.
// Dispatch: workgroup 8×8×1 over (ox, oy); grid (⌈OW/8⌉, ⌈OH/8⌉, Cout). One thread per output element;
//           the tap loops are clipped to the taps that land inside the input, so padding costs nothing.
// Substitutions: {{BIAS}} = true | false.
const BIAS: bool = {{BIAS}};

struct Params {
  cin: u32, h: u32, w: u32, cout: u32,
  kh: u32, kw: u32, stride: u32, pad_h: u32,
  pad_w: u32, out_h: u32, out_w: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> P: Params;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let ox = gid.x;
  let oy = gid.y;
  let o = gid.z;
  if (ox >= P.out_w || oy >= P.out_h || o >= P.cout) { return; }
  let iy0 = i32(oy * P.stride) - i32(P.pad_h);
  let ix0 = i32(ox * P.stride) - i32(P.pad_w);
  let ky0 = u32(max(0, -iy0));
  let ky1 = u32(clamp(i32(P.h) - iy0, 0, i32(P.kh)));
  let kx0 = u32(max(0, -ix0));
  let kx1 = u32(clamp(i32(P.w) - ix0, 0, i32(P.kw)));
  var acc = 0.0;
  if (BIAS) { acc = bias[o]; }
  for (var i = 0u; i < P.cin; i += 1u) {
    let wbase = (o * P.cin + i) * P.kh * P.kw;
    let xbase = i * P.h * P.w;
    for (var ky = ky0; ky < ky1; ky += 1u) {
      let xrow = xbase + u32(iy0 + i32(ky)) * P.w;
      let wrow = wbase + ky * P.kw;
      for (var kx = kx0; kx < kx1; kx += 1u) {
        acc += wt[wrow + kx] * x[xrow + u32(ix0 + i32(kx))];
      }
    }
  }
  y[(o * P.out_h + oy) * P.out_w + ox] = acc;
}
