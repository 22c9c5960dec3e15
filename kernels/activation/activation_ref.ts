/**
 * Float64 references of the activations, written as the textbook formulas (tanh for GELU,
 * 1/(1 + e^−x) for SiLU) so they check the kernel's sigmoid rewrite too.
 * @module
 */

/** GELU, tanh approximation (PyTorch approximate='tanh'). */
export function geluTanh(v: number): number {
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
}

/** SiLU, x·sigmoid(x). */
export function siluScalar(v: number): number {
  return v / (1 + Math.exp(-v));
}

/** Applies `op` to `x + bias[j]` (bias over the last axis of width `width`, or none). */
export function activationRef(
  x: ArrayLike<number>,
  op: "gelu" | "silu",
  bias: ArrayLike<number> | null = null,
  width = 1,
): Float64Array {
  const f = op === "gelu" ? geluTanh : siluScalar;
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i] + (bias ? bias[i % width] : 0));
  return out;
}
