// lib_gemm_access.wgsl: the element accessors of the GEMM kernels (matmul_fast_v4, matmul_lane,
// matmul_sg); not a kernel of its own. Pulled in by an include line (engine/gpu Source) before the
// text substitutions, which engine/gpu gemmAccess (and halfW for W) fills: x, aux0 (stats or
// residual) and y read and written as f32 or vec4 whatever their binding type.
// x1/r1/w1 read one f32, x4/r4/w4 the aligned vec4 at index i4 (used only when XV / WV).
fn x1(i: u32) -> f32 { return {{X1}}; }
fn x4(i4: u32) -> vec4<f32> { return {{X4}}; }
fn r1(i: u32) -> f32 { return {{R1}}; }
fn r4(i4: u32) -> vec4<f32> { return {{R4}}; }
fn y1(i: u32, v: f32) { {{Y1}}; }
fn y4(i4: u32, v: vec4<f32>) { {{Y4}}; }
fn w1(i: u32) -> f32 { return {{W1}}; }
fn w4(i4: u32) -> vec4<f32> { return {{W4}}; }
