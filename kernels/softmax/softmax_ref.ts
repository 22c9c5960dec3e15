/**
 * Float64 reference of the softmax kernel.
 * @module
 */

/**
 * softmax(x / T) over rows of length n, with column `maskId` (if ≥ 0) forced to probability 0.
 * A row with no finite logit gives zeros (the kernel's convention).
 */
export function softmaxRef(
  x: ArrayLike<number>,
  n: number,
  temperature = 1,
  maskId = -1,
): Float64Array {
  const out = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += n) {
    const v = (i: number) => (i === maskId ? -Infinity : x[base + i] / temperature);
    let m = -Infinity;
    for (let i = 0; i < n; i++) m = Math.max(m, v(i));
    if (m === -Infinity) continue;
    let s = 0;
    for (let i = 0; i < n; i++) s += Math.exp(v(i) - m);
    for (let i = 0; i < n; i++) out[base + i] = Math.exp(v(i) - m) / s;
  }
  return out;
}
