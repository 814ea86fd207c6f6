// lib_gemm_io.wgsl: the bounds-checked vec4 loaders (ldw, ldx) and the bias/epilogue stores
// (store4; store4l with rowc's row constants) shared by matmul_fast_v4.wgsl and matmul_lane.wgsl;
// not a kernel of its own.
// Pulled in by an include line (engine/gpu Source) after lib_erf and lib_gemm_access, before the
// text substitutions, so it uses the including kernel's bindings (x, wm, bias, aux0..2, y, p),
// constants (LN, EPI, XV, WV) and accessors. Formulas: see the including kernel's header.

// ldw returns W[o, k..k+3] (zeros past In; o < Out checked by the caller).
fn ldw(o: u32, k: u32) -> vec4<f32> {
  if (WV) {
    if (k < p.inp) { return w4((o * p.inp + k) / 4u); }
    return vec4<f32>();
  }
  var v = vec4<f32>();
  for (var i = 0u; i < 4u; i = i + 1u) {
    if (k + i < p.inp) { v[i] = w1(o * p.inp + k + i); }
  }
  return v;
}

// ldx returns x[k, q..q+3] (zeros past HW; k < In checked by the caller).
fn ldx(k: u32, q: u32) -> vec4<f32> {
  if (XV) {
    if (q < p.hw) { return x4((k * p.hw + q) / 4u); }
    return vec4<f32>();
  }
  var v = vec4<f32>();
  for (var i = 0u; i < 4u; i = i + 1u) {
    if (q + i < p.hw) { v[i] = x1(k * p.hw + q + i); }
  }
  return v;
}

// store4 writes row o, pixels q0..q0+3 of the block (bias, epilogue, bounds).
fn store4(o: u32, q0: u32, v: vec4<f32>) { store4l(o, q0, v, rowc(o)); }

// rowc returns row o's bias (0 without one) and layer scale g[o] (EPI 2; else 0): matmul_lane.wgsl
// loads them once per row for store4l (GEMMLaneHoist) instead of once per store4 call; no control
// flow around the loads.
fn rowc(o: u32) -> vec2<f32> {
  let oc = min(o, p.out - 1u);
  var g = 0.0;
  if (EPI == 2u) { g = aux1[oc]; }
  return vec2<f32>(select(0.0, bias[oc], p.has_bias != 0u), g);
}

// store4l is store4 with row o's bias and layer scale from rowc: bg = (b[o], g[o]).
fn store4l(o: u32, q0: u32, v: vec4<f32>, bg: vec2<f32>) {
  if (o >= p.out) { return; }
  if (XV) {
    if (q0 >= p.hw) { return; }
    let i4 = (o * p.hw + q0) / 4u;
    var r = v + bg.x;
    if (EPI == 1u) { r = 0.5 * r * (1.0 + erf_as4(r * 0.70710678118654752)); }
    if (EPI == 2u) { r = r4(i4) + bg.y * r; }
    y4(i4, r);
    return;
  }
  for (var i = 0u; i < 4u; i = i + 1u) {
    let q = q0 + i;
    if (q < p.hw) {
      var r = v[i] + bg.x;
      if (EPI == 1u) { r = 0.5 * r * (1.0 + erf_as(r * 0.70710678118654752)); }
      if (EPI == 2u) { r = r1(o * p.hw + q) + bg.y * r; }
      y1(o * p.hw + q, r);
    }
  }
}
