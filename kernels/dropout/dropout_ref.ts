/**
 * Float64 reference of inverted dropout with the Philox keep mask.
 * @module
 */
import { philoxUniformRef } from "../philox/philox_ref.ts";

/**
 * `x[i]·keep_i/(1 − p)` with `keep_i = (u_i ≥ fround(p))`, u the stream (seed, offset) as
 * `[lo, hi]` halves. The backward is the same function applied to dy.
 */
export function dropoutRef(
  x: ArrayLike<number>,
  p: number,
  seed: readonly [number, number],
  offset: readonly [number, number],
): Float64Array {
  const u = philoxUniformRef(x.length, seed, offset);
  const threshold = Math.fround(p);
  return Float64Array.from(x, (v, i) => (u[i] >= threshold ? v / (1 - p) : 0));
}
