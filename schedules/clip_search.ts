/**
 * The data-driven clipped-schedule search (docs/design.md, "Clip search"): candidate windows (β,
 * ω), the variance of the NELBO estimate per window accumulated over validation batches, and the
 * pick of the window with the smallest summed variance. Evaluating the NELBO is the caller's job
 * (it needs the model); this module is the bookkeeping and the decision, with no GPU code.
 * @module
 */
import { type ClipInterval, DEFAULT_INTERVAL } from "./time.ts";

/** Candidate windows: the unclipped (1e-3, 1) first, then every width w and start i in steps of δ. */
export function clipCandidates(
  widths: readonly number[] = [0.5, 0.6, 0.7, 0.8, 0.9],
  delta = 0.05,
): ClipInterval[] {
  const out: ClipInterval[] = [{ ...DEFAULT_INTERVAL }];
  const f = Math.fround;
  for (const w of widths) {
    // The reference builds the starts with f32 arange(0, 1 − w + δ, δ): emulate its count.
    const count = Math.ceil((f(1) - f(w) + f(delta)) / f(delta) - 1e-6);
    for (let j = 0; j < count; j++) {
      const i = Math.round(j * delta * 1e6) / 1e6;
      const min = Math.max(i, 1e-3);
      const max = Math.max(Math.round((i + w) * 1e6) / 1e6, 1e-3);
      if (max > 1 + 1e-9) continue;
      out.push({ min, max: Math.min(max, 1) });
    }
  }
  return out;
}

/** Unbiased (N − 1) variance of the values. */
export function unbiasedVariance(values: ArrayLike<number>): number {
  const n = values.length;
  if (n < 2) return 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i];
  mean /= n;
  let s = 0;
  for (let i = 0; i < n; i++) s += (values[i] - mean) ** 2;
  return s / (n - 1);
}

/** One row of the search table. */
export interface ClipSearchRow {
  /** The candidate window (β, ω). */
  interval: ClipInterval;
  /** Σ over batches of the unbiased variance of the per-block mean losses. */
  varianceSum: number;
  /** Batches recorded. */
  batches: number;
  /** varianceSum / batches (what the reference logs). */
  meanVariance: number;
  /** Mean of all per-block losses seen (the window's NELBO estimate, biased when clipped). */
  meanLoss: number;
}

/** Accumulates per-window variances over validation batches and picks the best window. */
export class ClipSearch {
  readonly #rows: { interval: ClipInterval; v: number; n: number; sum: number; count: number }[];
  /** Batches per window after which a window stops recording (the reference uses 100). */
  readonly maxBatches: number;

  /** Starts an empty table over `candidates`; each window records at most `maxBatches` batches. */
  constructor(candidates: readonly ClipInterval[] = clipCandidates(), maxBatches = 100) {
    this.#rows = candidates.map((interval) => ({ interval, v: 0, n: 0, sum: 0, count: 0 }));
    this.maxBatches = maxBatches;
  }

  /** The windows, in order. */
  get candidates(): ClipInterval[] {
    return this.#rows.map((r) => r.interval);
  }

  /** True while window `index` still wants batches. */
  wants(index: number): boolean {
    return this.#rows[index].n < this.maxBatches;
  }

  /** Records one batch for window `index`: its per-block mean losses, [B·K] values. */
  record(index: number, perBlockLoss: ArrayLike<number>): void {
    const row = this.#rows[index];
    if (row.n >= this.maxBatches) return;
    row.v += unbiasedVariance(perBlockLoss);
    row.n++;
    for (let i = 0; i < perBlockLoss.length; i++) row.sum += perBlockLoss[i];
    row.count += perBlockLoss.length;
  }

  /** The table, one row per window. */
  table(): ClipSearchRow[] {
    return this.#rows.map((r) => ({
      interval: r.interval,
      varianceSum: r.v,
      batches: r.n,
      meanVariance: r.n ? r.v / r.n : NaN,
      meanLoss: r.count ? r.sum / r.count : NaN,
    }));
  }

  /** The window with the smallest summed variance (first one on ties; windows with no data lose). */
  best(): ClipSearchRow {
    let best: ClipSearchRow | null = null;
    for (const row of this.table()) {
      if (row.batches === 0) continue;
      if (!best || row.varianceSum < best.varianceSum) best = row;
    }
    if (!best) throw new Error("clip search: no window has any recorded batch");
    return best;
  }
}
