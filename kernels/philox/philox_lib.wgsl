// Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC'11): a counter-based generator, so any thread can compute the block for any counter with
// no state, and the stream is the same on every adapter. Other kernels prepend this file (the
// launcher exports it as `philoxWgsl`) and call philox4x32_10 / philox_unit.

const PHILOX_M0 = 0xD2511F53u;
const PHILOX_M1 = 0xCD9E8D57u;
const PHILOX_W0 = 0x9E3779B9u; // key schedule: the golden ratio
const PHILOX_W1 = 0xBB67AE85u; // and √3 − 1, as 32-bit fractions

// High 32 bits of the 64-bit product a·b, from 16-bit halves (WGSL has no 64-bit integers).
// The low 32 bits are the wrapping u32 product a * b.
fn philox_mulhi(a: u32, b: u32) -> u32 {
  let a0 = a & 0xffffu;
  let a1 = a >> 16u;
  let b0 = b & 0xffffu;
  let b1 = b >> 16u;
  let p00 = a0 * b0;
  let p01 = a0 * b1;
  let p10 = a1 * b0;
  // Carry out of bit 31: bits 16..31 of the three partial products that reach there; the sum
  // stays below 3·2^16, so it cannot overflow.
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u);
}

// Ten rounds on counter ctr with key key; the key is bumped by (W0, W1) before rounds 2..10.
fn philox4x32_10(ctr: vec4u, key: vec2u) -> vec4u {
  var c = ctr;
  var k = key;
  for (var r = 0u; r < 10u; r++) {
    if (r > 0u) { k += vec2u(PHILOX_W0, PHILOX_W1); }
    let hi0 = philox_mulhi(PHILOX_M0, c.x);
    let lo0 = PHILOX_M0 * c.x;
    let hi1 = philox_mulhi(PHILOX_M1, c.z);
    let lo1 = PHILOX_M1 * c.z;
    c = vec4u(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}

// The top 24 bits of a word as a float in [0, 1 − 2^−24]: every value is exact in f32, so it
// is never rounded up to 1.0.
fn philox_unit(bits: u32) -> f32 {
  return f32(bits >> 8u) * (1.0 / 16777216.0);
}

// The Philox block of the counter layout every blockdiff kernel uses: element i of a call is
// word i % 4 of the block for counter (i / 4, 0, offset_lo, offset_hi) under key (seed_lo,
// seed_hi). Distinct offsets therefore give disjoint streams, whatever the call sizes.
fn philox_block(block: u32, seed: vec2u, offset: vec2u) -> vec4u {
  return philox4x32_10(vec4u(block, 0u, offset.x, offset.y), seed);
}
