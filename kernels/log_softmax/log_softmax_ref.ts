/**
 * Float64 references of the log-softmax kernels.
 * @module
 */

/** logsumexp of one row of v (−inf when no entry is finite). */
function logSumExp(v: (i: number) => number, n: number): number {
  let m = -Infinity;
  for (let i = 0; i < n; i++) m = Math.max(m, v(i));
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < n; i++) s += Math.exp(v(i) - m);
  return m + Math.log(s);
}

/** log_softmax(x / T) over rows of length n; column `maskId` (if ≥ 0) counts as −inf. */
export function logSoftmaxRef(
  x: ArrayLike<number>,
  n: number,
  temperature = 1,
  maskId = -1,
): Float64Array {
  const out = new Float64Array(x.length);
  for (let base = 0; base < x.length; base += n) {
    const v = (i: number) => (i === maskId ? -Infinity : x[base + i] / temperature);
    const lse = logSumExp(v, n);
    for (let i = 0; i < n; i++) out[base + i] = lse === -Infinity ? -Infinity : v(i) - lse;
  }
  return out;
}

/**
 * Per-row loss −log softmax(x_r)[t_r] (0 for t_r < 0, NaN for t_r ≥ n) and logsumexp,
 * with column `maskId` counting as −inf.
 */
export function logSoftmaxGatherRef(
  x: ArrayLike<number>,
  target: ArrayLike<number>,
  n: number,
  maskId = -1,
): { loss: Float64Array; lse: Float64Array } {
  const rows = target.length;
  const loss = new Float64Array(rows);
  const lse = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const v = (i: number) => (i === maskId ? -Infinity : x[r * n + i]);
    lse[r] = logSumExp(v, n);
    const t = target[r];
    if (t >= n) loss[r] = NaN;
    else if (t >= 0) loss[r] = lse[r] === -Infinity ? Infinity : lse[r] - v(t);
  }
  return { loss, lse };
}
