// Sinusoidal timestep features (spec 1.3) of sigma [B] → [B, 2·HALF]:
//   out[b, j] = cos(σ_b · ω_j),  out[b, HALF + j] = sin(σ_b · ω_j),  j < HALF
// ω (OMEGA, HALF f32 values) is emitted by the launcher exactly as the reference rounds it.
// The argument σ·ω is the reference's f32 product; it is reduced to [−π, π] before cos/sin,
// because WGSL bounds their error only on that interval. The reduction subtracts k·2π in two
// parts (TWO_PI_HI has few significant bits, so k·TWO_PI_HI is exact for the k that occur)
// and keeps the reduced angle within about one f32 ulp of the true one.
struct Params { total: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> sigma: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const TWO_PI_HI = 6.28125;                 // 2π rounded to 8 significant bits
const TWO_PI_LO = 0.0019353071795864769;   // 2π − TWO_PI_HI
const INV_TWO_PI = 0.15915494309189535;

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
  out[i] = select(sin(r), cos(r), k < HALF);
}
