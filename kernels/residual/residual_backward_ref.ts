/**
 * Float64 analytic backward of out = x + gate[b] ⊙ y (gate broadcast over rows):
 * dx = dout, dy = gate[b] ⊙ dout, dgate[b] = Σ_s dout ⊙ y.
 * @module
 */

/** dout, y: `[B, S, d]` flattened; gate `[batch, d]`; dgate comes back as `[batch, d]`. */
export function residualBackwardRef(
  dout: ArrayLike<number>,
  y: ArrayLike<number>,
  gate: ArrayLike<number>,
  batch: number,
  width: number,
): { dx: Float64Array; dy: Float64Array; dgate: Float64Array } {
  const dx = Float64Array.from(dout);
  const dy = new Float64Array(y.length);
  const dgate = new Float64Array(batch * width);
  const perBatch = y.length / batch;
  for (let i = 0; i < y.length; i++) {
    const g = Math.floor(i / perBatch) * width + (i % width);
    dy[i] = gate[g] * dout[i];
    dgate[g] += dout[i] * y[i];
  }
  return { dx, dy, dgate };
}
