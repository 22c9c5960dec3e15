/**
 * Sample statistics (docs/design.md, "Evaluation"): per-sample unigram entropy averaged over
 * samples (the reference sums it per batch, which equals the mean only for batch 1), length median
 * / max, NFE and throughput.
 * @module
 */
import { unigramEntropy } from "@blockdiff/schedules";

/** Summary of N samples (JSON-ready). */
export interface SampleStats {
  /** Number of samples N. */
  samples: number;
  /** Mean over samples of each sample's unigram entropy (nats). */
  entropy: number;
  /** Median sample length, in tokens. */
  lengthMedian: number;
  /** Longest sample, in tokens. */
  lengthMax: number;
  /** Mean sample length, in tokens. */
  lengthMean: number;
  /** Mean network calls per sampling run. */
  nfe: number;
  /** Sampled tokens per second over all runs (NaN when no time was recorded). */
  tokensPerSecond: number;
}

/** Median of numbers (mean of the two middle ones for an even count). */
export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Statistics over generated token sequences (`tokens`: the part to measure, usually the
 * continuation), the NFE of each sampling run, and total generated tokens / seconds.
 */
export function sampleStats(
  tokens: readonly ArrayLike<number>[],
  runs: readonly { nfe: number; seconds: number }[],
): SampleStats {
  const lengths = tokens.map((t) => t.length);
  const total = lengths.reduce((a, b) => a + b, 0);
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  return {
    samples: tokens.length,
    entropy: tokens.length
      ? tokens.reduce((a, t) => a + unigramEntropy(t), 0) / tokens.length
      : NaN,
    lengthMedian: median(lengths),
    lengthMax: lengths.length ? Math.max(...lengths) : NaN,
    lengthMean: lengths.length ? total / lengths.length : NaN,
    nfe: runs.length ? runs.reduce((a, r) => a + r.nfe, 0) / runs.length : NaN,
    tokensPerSecond: seconds > 0 ? total / seconds : NaN,
  };
}
