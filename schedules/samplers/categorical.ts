/**
 * Categorical draws by inverse CDF from one uniform (no Gumbel or exponential noise), so a
 * draw costs one uniform and is exactly reproducible from the stream. The reference's
 * exponential race and Gumbel-max give the same distribution.
 * @module
 */

/**
 * Index drawn ∝ `weights[offset … offset + length)` (non-negative, not necessarily
 * normalised) using the uniform `u ∈ [0, 1)`: the first index whose running sum exceeds
 * u·Σw. Negative weights count as 0. Returns an index relative to `offset`.
 */
export function drawCategorical(
  weights: ArrayLike<number>,
  u: number,
  offset = 0,
  length: number = weights.length - offset,
): number {
  let total = 0;
  for (let i = 0; i < length; i++) {
    const w = weights[offset + i];
    if (w > 0) total += w;
  }
  if (!(total > 0) || !Number.isFinite(total)) {
    throw new RangeError(`drawCategorical: weights must have a finite positive sum, got ${total}`);
  }
  const target = u * total;
  let acc = 0;
  let last = -1;
  for (let i = 0; i < length; i++) {
    const w = weights[offset + i];
    if (!(w > 0)) continue;
    acc += w;
    last = i;
    if (acc > target) return i;
  }
  // Rounding can leave the running sum a hair below u·Σw: the last positive entry is the answer.
  return last;
}

/** Index of the largest entry of `values[offset … offset + length)` (first on ties). */
export function argmax(
  values: ArrayLike<number>,
  offset = 0,
  length = values.length - offset,
): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < length; i++) {
    const v = values[offset + i];
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}
