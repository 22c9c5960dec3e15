/**
 * Float64 reference of the residual kernel: out = x + gate ⊙ y, gate broadcast over rows.
 * @module
 */

/** x, y: [B, S, d] flattened; gate: [B, d] or null. */
export function residualRef(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  gate: ArrayLike<number> | null,
  batch: number,
  width: number,
): Float64Array {
  const out = new Float64Array(x.length);
  const rows = x.length / (batch * width);
  for (let i = 0; i < x.length; i++) {
    const b = Math.floor(i / (rows * width));
    const g = gate ? gate[b * width + (i % width)] : 1;
    out[i] = x[i] + g * y[i];
  }
  return out;
}
