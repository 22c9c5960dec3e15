/**
 * Float64 analytic derivatives of the activations, in the textbook tanh form (so they check
 * the kernel's sigmoid rewrite), and the backward dx = dy ⊙ f′(x + bias), dbias = Σ_rows dx.
 * @module
 */

const K = Math.sqrt(2 / Math.PI);

/** d/dv of 0.5·v·(1 + tanh(√(2/π)·(v + 0.044715·v³))). */
export function geluTanhDerivative(v: number): number {
  const t = Math.tanh(K * (v + 0.044715 * v ** 3));
  return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * K * (1 + 3 * 0.044715 * v * v);
}

/** d/dv of v·sigmoid(v). */
export function siluDerivative(v: number): number {
  const s = 1 / (1 + Math.exp(-v));
  return s + v * s * (1 - s);
}

/** dx and (with a bias over the last axis of width `width`) dbias. */
export function activationBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  op: "gelu" | "silu",
  bias: ArrayLike<number> | null = null,
  width = 1,
): { dx: Float64Array; dbias: Float64Array } {
  const f = op === "gelu" ? geluTanhDerivative : siluDerivative;
  const dx = new Float64Array(x.length);
  const dbias = new Float64Array(bias ? width : 0);
  for (let i = 0; i < x.length; i++) {
    dx[i] = dy[i] * f(x[i] + (bias ? bias[i % width] : 0));
    if (bias) dbias[i % width] += dx[i];
  }
  return { dx, dbias };
}
