// lib_erf.wgsl: erf for the exact (erf-form) GELU, pulled in by an include line (engine/gpu Source) in
// gelu.wgsl, gelu_grad.wgsl and the GEMM epilogues (matmul_fast*.wgsl, matmul_sg.wgsl); not a
// kernel of its own. WGSL has no erf: Abramowitz & Stegun 7.1.26 (Handbook of Mathematical
// Functions, 1964), for z ≥ 0
//   erf(z) ≈ 1 − (a1 t + a2 t² + a3 t³ + a4 t⁴ + a5 t⁵) e^(−z²),  t = 1/(1 + 0.3275911 z),
// absolute error ≤ 1.5e-7 in exact arithmetic, plus a few f32 ulps here; erf(−z) = −erf(z).
// Reference: engine/cpu/gelu.go (math.Erf).
fn erf_as(z: f32) -> f32 {
  let a = abs(z);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let r = 1.0 - poly * exp(-a * a);
  return select(r, -r, z < 0.0);
}

// erf_as4 is erf_as on each lane of a vec4.
fn erf_as4(z: vec4<f32>) -> vec4<f32> {
  let a = abs(z);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  let r = 1.0 - poly * exp(-a * a);
  return select(r, -r, z < vec4<f32>(0.0));
}
