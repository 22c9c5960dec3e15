/**
 * Block-size policies for the semi-autoregressive sampler: a fixed size (the trained b), or
 * an adaptive one that looks at the model's prediction for the upcoming positions (a probe
 * pass over the largest allowed block) and takes a larger block where the model is
 * confident and a smaller one where it is not.
 * @module
 */
import type { DrawRecord } from "./draw_record.ts";

/** What a probe pass says about the upcoming positions: per row and position, `[B, n]`. */
export interface Probe {
  /** Rows B. */
  batch: number;
  /** Positions probed (the probe block's size). */
  size: number;
  /**
   * Top-1 probability of p_θ (mask removed, at the temperature, before the nucleus filter) at
   * each position (NaN where the position was already visible).
   */
  confidence: Float64Array;
  /** Natural-log entropy of that p_θ at each position (NaN where visible). */
  entropy: Float64Array;
}

/** Chooses the next block's size. */
export interface BlockSizePolicy {
  /** Label for logs, e.g. "fixed(4)". */
  readonly name: string;
  /** Allowed sizes, ascending. */
  readonly sizes: readonly number[];
  /** Size of the probe pass the policy wants before choosing (0: no probe). */
  readonly probeSize: number;
  /** The next block's size, given the probe (null when `probeSize` is 0). */
  choose(probe: Probe | null): number;
}

/** Always `size`. */
export function fixedBlockSize(size: number): BlockSizePolicy {
  if (!Number.isInteger(size) || size < 1) {
    throw new RangeError(`block size must be a positive integer, got ${size}`);
  }
  return { name: `fixed(${size})`, sizes: [size], probeSize: 0, choose: () => size };
}

/** Options of {@link adaptiveBlockSize}. */
export interface AdaptiveBlockOptions {
  /** Allowed sizes (default [4, 8, 16]). */
  sizes?: readonly number[];
  /** Signal: mean top-1 probability (default) or mean entropy over a candidate block. */
  measure?: "confidence" | "entropy";
  /**
   * A candidate size is taken when the measure over its first positions is ≥ threshold
   * (confidence; default 0.5) or ≤ threshold (entropy, nats; default 2).
   */
  threshold?: number;
}

/**
 * Probe statistics from the draw records `[B·n]` of a probe block (visible positions are
 * skipped): the top-1 probability and the entropy of the unfiltered p_θ at each position.
 */
export function probeFrom(
  draws: DrawRecord,
  block: Int32Array,
  batch: number,
  size: number,
  maskId: number,
): Probe {
  const confidence = new Float64Array(batch * size).fill(NaN);
  const entropy = new Float64Array(batch * size).fill(NaN);
  for (let i = 0; i < batch * size; i++) {
    if (block[i] !== maskId) continue;
    confidence[i] = draws.maxProb[i];
    entropy[i] = draws.entropy[i];
  }
  return { batch, size, confidence, entropy };
}

/**
 * The largest allowed size whose first positions (all rows, masked positions only) have mean
 * confidence ≥ threshold (or mean entropy ≤ threshold); the smallest size when none does.
 */
export function adaptiveBlockSize(opts: AdaptiveBlockOptions = {}): BlockSizePolicy {
  const sizes = [...(opts.sizes ?? [4, 8, 16])].sort((a, b) => a - b);
  if (!sizes.length || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new RangeError(`adaptive block sizes must be positive integers, got [${sizes}]`);
  }
  const measure = opts.measure ?? "confidence";
  const threshold = opts.threshold ?? (measure === "confidence" ? 0.5 : 2);
  return {
    name: `adaptive{${sizes.join(",")}} ${measure} ${
      measure === "confidence" ? "≥" : "≤"
    } ${threshold}`,
    sizes,
    probeSize: sizes[sizes.length - 1],
    choose(probe) {
      if (!probe) return sizes[0];
      const values = measure === "confidence" ? probe.confidence : probe.entropy;
      for (let k = sizes.length - 1; k > 0; k--) {
        const s = Math.min(sizes[k], probe.size);
        let sum = 0, n = 0;
        for (let r = 0; r < probe.batch; r++) {
          for (let j = 0; j < s; j++) {
            const v = values[r * probe.size + j];
            if (!Number.isNaN(v)) sum += v, n++;
          }
        }
        if (n === 0) continue;
        const mean = sum / n;
        if (measure === "confidence" ? mean >= threshold : mean <= threshold) return sizes[k];
      }
      return sizes[0];
    },
  };
}
