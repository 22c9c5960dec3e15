/**
 * Float64 reference of the column sums: `out[g, j] = Σ_r a[g·R + r, j] (· b[g·R + r, j])` over
 * `groups` equal row groups of a row-major `[groups · R, n]` array.
 * @module
 */

/** Per-group column sums of a (times b elementwise, when given) → `[groups, n]`. */
export function colSumRef(
  a: ArrayLike<number>,
  n: number,
  groups = 1,
  b: ArrayLike<number> | null = null,
): Float64Array {
  const out = new Float64Array(groups * n);
  const perGroup = n === 0 ? 0 : a.length / n / groups;
  for (let g = 0; g < groups; g++) {
    for (let r = 0; r < perGroup; r++) {
      for (let j = 0; j < n; j++) {
        const i = (g * perGroup + r) * n + j;
        out[g * n + j] += a[i] * (b ? b[i] : 1);
      }
    }
  }
  return out;
}
