/**
 * Float64 reference of the AdamW step (PyTorch `torch.optim.AdamW` semantics).
 * @module
 */

/** Hyper-parameters of {@linkcode adamwRef}. */
export interface AdamWRefOptions {
  lr: number;
  step: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Gradient scale (the clip factor). */
  clip: number;
}

/** One step, updating param, m and v in place. */
export function adamwRef(
  param: Float64Array,
  grad: ArrayLike<number>,
  m: Float64Array,
  v: Float64Array,
  o: AdamWRefOptions,
): void {
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i] * o.clip;
    param[i] *= 1 - o.lr * o.weightDecay;
    m[i] = o.beta1 * m[i] + (1 - o.beta1) * g;
    v[i] = o.beta2 * v[i] + (1 - o.beta2) * g * g;
    const mHat = m[i] / bc1;
    const vHat = v[i] / bc2;
    param[i] -= (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
  }
}
