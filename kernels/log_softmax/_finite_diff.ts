/**
 * Central finite differences for the backward kernels' tests: checks a float64 analytic gradient
 * against (f(x + h·e_i) − f(x − h·e_i)) / 2h on a sample of coordinates. Private to the kernels'
 * tests: not re-exported by kernels/mod.ts.
 * @module
 */
import { relativeError, type Rng } from "@blockdiff/core/testing";

/**
 * Relative error ‖fd − grad‖ / ‖grad‖ over the sampled coordinates, where fd are central
 * differences of the scalar `f` (a random projection of a float64 forward reference). `x` is
 * perturbed in place and restored.
 * @param indices coordinates to check
 * @param h step; in float64 the truncation error is O(h²·f''') and the rounding error
 *   O(ε·|f|/h), so h ≈ 1e-5 keeps both far below 1e-6 for well-scaled f
 */
export function finiteDifferenceError(
  f: (x: Float64Array) => number,
  x: Float64Array,
  grad: ArrayLike<number>,
  indices: readonly number[],
  h = 1e-5,
): number {
  const fd: number[] = [];
  const an: number[] = [];
  for (const i of indices) {
    const xi = x[i];
    x[i] = xi + h;
    const fp = f(x);
    x[i] = xi - h;
    const fm = f(x);
    x[i] = xi;
    fd.push((fp - fm) / (2 * h));
    an.push(grad[i]);
  }
  return relativeError(fd, an);
}

/** `count` distinct random coordinates in [0, n) plus the `extra` ones (deduplicated). */
export function sampleIndices(
  rng: Rng,
  n: number,
  count: number,
  extra: readonly number[] = [],
): number[] {
  const set = new Set(extra);
  while (set.size < Math.min(n, count + extra.length)) set.add(rng.int(0, n - 1));
  return [...set];
}
