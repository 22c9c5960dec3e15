/**
 * Float64 reference of the token-embedding backward.
 * @module
 */

/** `dE[v, :] = Σ_{n: ids[n] = v} dH[n, :]` ([V, d] flattened), plus `initial` if given. */
export function embeddingBackwardRef(
  ids: ArrayLike<number>,
  dh: ArrayLike<number>,
  vocab: number,
  width: number,
  initial?: ArrayLike<number>,
): Float64Array {
  const de = initial ? Float64Array.from(initial) : new Float64Array(vocab * width);
  for (let n = 0; n < ids.length; n++) {
    for (let j = 0; j < width; j++) de[ids[n] * width + j] += dh[n * width + j];
  }
  return de;
}
