/**
 * CPU reference of Philox4x32-10 and of the blockdiff stream layout, bit-exact with the GPU.
 * @module
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/**
 * The 64-bit product of two u32 values as `[hi, lo]`, from 16-bit halves exactly as the WGSL
 * does it (each partial product is < 2^32, exact in a float64).
 */
export function mulhilo32(a: number, b: number): [number, number] {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  const hi = (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
  return [hi, Math.imul(a, b) >>> 0];
}

/** Philox4x32-10 of a 4-word counter under a 2-word key. */
export function philox4x32_10(
  ctr: readonly [number, number, number, number],
  key: readonly [number, number],
): [number, number, number, number] {
  let [c0, c1, c2, c3] = ctr.map((v) => v >>> 0);
  let [k0, k1] = key.map((v) => v >>> 0);
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const [hi0, lo0] = mulhilo32(M0, c0);
    const [hi1, lo1] = mulhilo32(M1, c2);
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
}

/**
 * `count` words of the stream (seed, offset), both as `[lo, hi]`: element i is word i % 4 of
 * the block for counter (i / 4, 0, offset_lo, offset_hi).
 */
export function philoxBitsRef(
  count: number,
  seed: readonly [number, number],
  offset: readonly [number, number],
): Uint32Array {
  const out = new Uint32Array(count);
  for (let j = 0; 4 * j < count; j++) {
    const block = philox4x32_10([j, 0, offset[0], offset[1]], seed);
    for (let k = 0; k < 4 && 4 * j + k < count; k++) out[4 * j + k] = block[k];
  }
  return out;
}

/** A word to a uniform in [0, 1): its top 24 bits times 2^−24 (exact in f32). */
export function unitRef(bits: number): number {
  return (bits >>> 8) / 16777216;
}

/** `count` uniforms of the stream (seed, offset). */
export function philoxUniformRef(
  count: number,
  seed: readonly [number, number],
  offset: readonly [number, number],
): Float64Array {
  return Float64Array.from(philoxBitsRef(count, seed, offset), unitRef);
}
