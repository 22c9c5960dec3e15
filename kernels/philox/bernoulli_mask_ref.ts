/**
 * CPU reference of forward masking, bit-exact with the kernel.
 * @module
 */
import { philoxUniformRef } from "./philox_ref.ts";

/**
 * x_t for x0 [B, L] and t [B, K] (flattened): maskId where u ≤ t (u < t when strict), with u
 * the stream (seed, offset) as `[lo, hi]` halves. t must hold f32 values (Math.fround) for the
 * comparison to match the GPU's.
 */
export function bernoulliMaskRef(
  x0: ArrayLike<number>,
  t: ArrayLike<number>,
  batch: number,
  len: number,
  maskId: number,
  seed: readonly [number, number],
  offset: readonly [number, number],
  strict = false,
): Int32Array {
  const k = t.length / batch;
  const block = len / k;
  const u = philoxUniformRef(batch * len, seed, offset);
  const out = new Int32Array(batch * len);
  for (let b = 0; b < batch; b++) {
    for (let l = 0; l < len; l++) {
      const i = b * len + l;
      const p = t[b * k + Math.floor(l / block)];
      out[i] = (strict ? u[i] < p : u[i] <= p) ? maskId : x0[i];
    }
  }
  return out;
}
