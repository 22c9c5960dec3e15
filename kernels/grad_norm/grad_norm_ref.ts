/**
 * Float64 reference of the global gradient norm and clip factor.
 * @module
 */

/** `[norm, clip]` with norm = √(Σ over all tensors of Σ x²), clip = min(1, maxNorm/(norm + 1e-6)). */
export function gradNormRef(
  grads: readonly ArrayLike<number>[],
  maxNorm: number,
): [number, number] {
  let s = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
  const norm = Math.sqrt(s);
  return [norm, Math.min(1, maxNorm / (norm + 1e-6))];
}
