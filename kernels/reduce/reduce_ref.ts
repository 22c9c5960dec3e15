/**
 * Float64 references of the reductions.
 * @module
 */

/** The reductions the kernels implement. */
export type ReduceOp = "sum" | "mean" | "max";

/** Reduces each row of length n of (w ⊙) x; w may be null. */
export function reduceRowsRef(
  x: ArrayLike<number>,
  w: ArrayLike<number> | null,
  n: number,
  op: ReduceOp,
  rows = n === 0 ? 0 : x.length / n,
): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let acc = op === "max" ? -Infinity : 0;
    for (let i = r * n; i < (r + 1) * n; i++) {
      const v = w ? w[i] * x[i] : x[i];
      acc = op === "max" ? Math.max(acc, v) : acc + v;
    }
    out[r] = op === "mean" ? acc / n : acc;
  }
  return out;
}

/** Σ_i |w_i x_i| per row: the scale against which a sum's rounding error is judged. */
export function absSumRowsRef(
  x: ArrayLike<number>,
  w: ArrayLike<number> | null,
  n: number,
  rows = n === 0 ? 0 : x.length / n,
): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows * n; i++) out[Math.floor(i / n)] += Math.abs(w ? w[i] * x[i] : x[i]);
  return out;
}
