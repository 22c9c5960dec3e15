// Sinusoidal timestep features (docs/design.md, "adaLN conditioning") of sigma [B] → [B, 2·HALF]:
//   out[b, j] = cos(σ_b · ω_j),  out[b, HALF + j] = sin(σ_b · ω_j),  j < HALF
// ω (OMEGA, HALF f32 values) is emitted by the launcher exactly as the reference rounds it.
// The argument σ·ω is the reference's f32 product; it is reduced to [−π, π] before cos/sin,
// because WGSL bounds their error only on that interval. The reduction subtracts k·2π in two
// parts (TWO_PI_HI has few significant bits, so k·TWO_PI_HI is exact for the k that occur)
// and keeps the reduced angle within about one f32 ulp of the true one. cos/sin themselves are
// polynomials on [−π/4, π/4] after a quadrant reduction: WGSL only promises 2^−11 absolute
// error for the built-ins, and SwiftShader's really are that coarse (≈ 1e-4 relative here).
struct Params { total: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> sigma: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const TWO_PI_HI = 6.28125;                 // 2π rounded to 8 significant bits
const TWO_PI_LO = 0.0019353071795864769;   // 2π − TWO_PI_HI
const INV_TWO_PI = 0.15915494309189535;

const HALF_PI_HI = 1.5703125;               // π/2 rounded to 8 significant bits
const HALF_PI_LO = 0.00048382679489661923; // π/2 − HALF_PI_HI
const INV_HALF_PI = 0.6366197723675814;

// Taylor polynomials on |y| ≤ π/4: truncation error below 2e-9.
fn sin_poly(y: f32) -> f32 {
  let y2 = y * y;
  return y * (1.0 + y2 * (-1.0 / 6.0 + y2 * (1.0 / 120.0 + y2 * (-1.0 / 5040.0 + y2 * (1.0 / 362880.0)))));
}
fn cos_poly(y: f32) -> f32 {
  let y2 = y * y;
  return 1.0 + y2 * (-0.5 + y2 * (1.0 / 24.0 + y2 * (-1.0 / 720.0 + y2 * (1.0 / 40320.0 + y2 * (-1.0 / 3628800.0)))));
}

// (cos r, sin r) for |r| ≤ π via the quadrant q of r: r = q·π/2 + y.
fn cos_sin(r: f32) -> vec2f {
  let q = round(r * INV_HALF_PI);
  let y = (r - q * HALF_PI_HI) - q * HALF_PI_LO;
  let c = cos_poly(y);
  let s = sin_poly(y);
  let qi = (i32(q) % 4 + 4) % 4;
  if (qi == 0) { return vec2f(c, s); }
  if (qi == 1) { return vec2f(-s, c); }
  if (qi == 2) { return vec2f(-c, -s); }
  return vec2f(s, -c);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  let b = i / (2u * HALF);
  let k = i % (2u * HALF);
  let j = k % HALF;
  let arg = sigma[b] * OMEGA[j];
  let n = round(arg * INV_TWO_PI);
  let r = (arg - n * TWO_PI_HI) - n * TWO_PI_LO;
  let cs = cos_sin(r);
  out[i] = select(cs.y, cs.x, k < HALF);
}
