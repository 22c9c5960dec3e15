/**
 * Float64 reference of SEDD's score entropy, written as the definition states it, not in
 * the kernel's rearranged form, so the test also checks the rearrangement.
 * @module
 */

/** Inputs of the references: flat host arrays. */
export interface SeddRefInputs {
  /** Raw logits [rows·V]. */
  logits: ArrayLike<number>;
  /** x_t ids [rows]. */
  xt: ArrayLike<number>;
  /** x0 ids [rows]. */
  x0: ArrayLike<number>;
  /** σ per group of rows.length / sigma.length consecutive rows. */
  sigma: ArrayLike<number>;
  /** dσ, like sigma. */
  dsigma: ArrayLike<number>;
  /** Classes V (including the mask). */
  n: number;
  /** The mask id m. */
  maskId: number;
}

/** Per-token losses: dσ·(Σ_{v≠m} exp(ls_v) − q·ls[x0] + q(ln q − 1)) at x_t = m, else 0. */
export function seddLossRef(inp: SeddRefInputs): Float64Array {
  const { logits, xt, x0, sigma, dsigma, n, maskId } = inp;
  const rows = xt.length;
  const per = rows / sigma.length;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    if (xt[r] !== maskId) continue;
    if (x0[r] < 0 || x0[r] >= n) {
      out[r] = NaN;
      continue;
    }
    const s = sigma[Math.floor(r / per)];
    const em1 = Math.expm1(s);
    const shift = Math.log(em1) + Math.log(n - 1);
    const logScore = (v: number) => (v === xt[r] ? 0 : logits[r * n + v] - shift);
    let pos = 0;
    for (let v = 0; v < n; v++) if (v !== maskId) pos += Math.exp(logScore(v));
    const q = 1 / em1;
    const neg = q * logScore(x0[r]);
    out[r] = dsigma[Math.floor(r / per)] * (pos - neg + q * (Math.log(q) - 1));
  }
  return out;
}

/** Gradient of Σ_r w_r·ℓ_r w.r.t. the logits: w_r·dσ·(exp(ls_v) − q·[v = x0]) for v ≠ x_t. */
export function seddLossBackwardRef(inp: SeddRefInputs, weight: ArrayLike<number>): Float64Array {
  const { logits, xt, x0, sigma, dsigma, n, maskId } = inp;
  const rows = xt.length;
  const per = rows / sigma.length;
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    if (xt[r] !== maskId) continue;
    const bad = x0[r] < 0 || x0[r] >= n;
    const s = sigma[Math.floor(r / per)];
    const em1 = Math.expm1(s);
    const shift = Math.log(em1) + Math.log(n - 1);
    const coef = weight[r] * dsigma[Math.floor(r / per)];
    for (let v = 0; v < n; v++) {
      // log_score[x_t] is overwritten with 0, so column x_t = m has no gradient.
      if (v === maskId) continue;
      out[r * n + v] = bad
        ? NaN
        : coef * (Math.exp(logits[r * n + v] - shift) - (v === x0[r] ? 1 / em1 : 0));
    }
  }
  return out;
}
