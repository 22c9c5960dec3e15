/**
 * Sampling diffusion times for a batch (docs/design.md, "Per-block noise and time sampling"): one t
 * per (sequence, block), antithetic (one draw per stratum of the batch × block grid), mapped into
 * the clipped interval [ε_min, ε_max]. The clipped schedule `1 − α_t ~ U[β, ω]` is exactly this
 * with (ε_min, ε_max) = (β, ω) on the log-linear schedule.
 * @module
 */

/** A clip interval [ε_min, ε_max] for t. The reference's default is (1e-3, 1). */
export interface ClipInterval {
  /** ε_min (β): lower bound of t. */
  min: number;
  /** ε_max (ω): upper bound of t. */
  max: number;
}

/** The reference's unclipped interval. */
export const DEFAULT_INTERVAL: ClipInterval = Object.freeze({ min: 1e-3, max: 1 });

/** Validates an interval and says how to fix a bad one. */
export function checkInterval(iv: ClipInterval): void {
  if (!(iv.min >= 0 && iv.max <= 1 && iv.min <= iv.max)) {
    throw new Error(
      `clip interval [${iv.min}, ${iv.max}] is invalid: need 0 ≤ β ≤ ω ≤ 1 (e.g. --clip 0.3,0.8)`,
    );
  }
}

/**
 * Per-block times t [B·K] (row-major, index i·K + k) from uniforms u ∈ [0, 1) of the same size.
 * With `antithetic`, u[r] ← (u[r]/N + r/N) mod 1, one draw in each stratum. If both bounds are
 * ≥ 1 every t is 1 (the b = 1 exact-likelihood case).
 */
export function sampleTimes(
  u: ArrayLike<number>,
  interval: ClipInterval = DEFAULT_INTERVAL,
  antithetic = true,
): Float64Array {
  checkInterval(interval);
  const n = u.length;
  const t = new Float64Array(n);
  if (interval.min >= 1 && interval.max >= 1) return t.fill(1);
  for (let r = 0; r < n; r++) {
    let v = u[r];
    if (antithetic) v = (v / n + r / n) % 1;
    t[r] = interval.min + (interval.max - interval.min) * v;
  }
  return t;
}

/** Expands per-block times [B, K] to per-token times [B, K·blockSize]. */
export function expandToTokens(
  perBlock: ArrayLike<number>,
  batch: number,
  blockSize: number,
): Float64Array {
  const k = perBlock.length / batch;
  const out = new Float64Array(batch * k * blockSize);
  for (let i = 0; i < batch * k; i++) out.fill(perBlock[i], i * blockSize, (i + 1) * blockSize);
  return out;
}
