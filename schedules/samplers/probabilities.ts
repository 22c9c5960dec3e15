/**
 * From network logits to the distribution a sampler draws from (docs/design.md, "Probabilities and
 * nucleus"): the mask class removed, temperature, softmax in float64, and the reference's nucleus
 * rule.
 * @module
 */
import { argmax } from "./categorical.ts";

/** How logits become sampling probabilities. */
export interface ProbabilityOptions {
  /** Softmax temperature; 0 means greedy (a one-hot on the arg-max). Default 1. */
  temperature?: number;
  /** Nucleus mass p; 1 (default) keeps everything. */
  topP?: number;
  /** The mask id m, which can never be predicted (its probability is forced to 0). */
  maskId?: number;
}

/**
 * Softmax of one row of logits at `temperature` into `out` (float64), with the entry `maskId`
 * (if given) excluded. Temperature 0 gives a one-hot on the arg-max.
 */
export function softmaxRow(
  logits: ArrayLike<number>,
  offset: number,
  vocab: number,
  out: Float64Array,
  outOffset = 0,
  temperature = 1,
  maskId = -1,
): void {
  if (!(temperature >= 0)) throw new RangeError(`temperature must be ≥ 0, got ${temperature}`);
  let max = -Infinity;
  for (let v = 0; v < vocab; v++) {
    if (v !== maskId && logits[offset + v] > max) max = logits[offset + v];
  }
  if (temperature === 0) {
    let best = -1;
    for (let v = 0; v < vocab; v++) {
      out[outOffset + v] = 0;
      if (best < 0 && v !== maskId && logits[offset + v] === max) best = v;
    }
    out[outOffset + best] = 1;
    return;
  }
  let sum = 0;
  for (let v = 0; v < vocab; v++) {
    const e = v === maskId ? 0 : Math.exp((logits[offset + v] - max) / temperature);
    out[outOffset + v] = e;
    sum += e;
  }
  for (let v = 0; v < vocab; v++) out[outOffset + v] /= sum;
}

/**
 * The reference's nucleus filter on one normalised row, in place: sort descending,
 * keep the entries whose cumulative sum is ≤ p (the token that crosses p is dropped), always
 * keep the top-1, renormalise. Ties at the cut keep the lowest ids. p ≥ 1 is the identity.
 */
export function nucleusRow(probs: Float64Array, offset: number, vocab: number, p: number): void {
  if (!(p > 0)) throw new RangeError(`nucleus p must be in (0, 1], got ${p}`);
  if (p >= 1) return;
  const row = probs.subarray(offset, offset + vocab);
  const sorted = Float64Array.from(row).sort().reverse();
  let kept = 1;
  let acc = sorted[0];
  while (kept < vocab && acc + sorted[kept] <= p) acc += sorted[kept++];
  const cut = sorted[kept - 1];
  // How many entries equal to the cut value are inside the kept prefix.
  let tiesKept = 0;
  for (let i = kept - 1; i >= 0 && sorted[i] === cut; i--) tiesKept++;
  let sum = 0;
  for (let v = 0; v < vocab; v++) {
    const x = row[v];
    if (x > cut) sum += x;
    else if (x === cut && tiesKept > 0) {
      tiesKept--;
      sum += x;
    } else row[v] = 0;
  }
  for (let v = 0; v < vocab; v++) row[v] /= sum;
}

/**
 * Probabilities `[rows, V]` (float64) from logits `[rows, V]`: mask removed, temperature,
 * softmax, nucleus. Rows for which `needed(row)` is false are left at zero (samplers skip
 * visible positions, and the nucleus sort over V is the costly part).
 */
export function toProbabilities(
  logits: ArrayLike<number>,
  rows: number,
  vocab: number,
  opts: ProbabilityOptions = {},
  needed?: (row: number) => boolean,
): Float64Array {
  if (logits.length !== rows * vocab) {
    throw new RangeError(`toProbabilities: ${logits.length} logits for ${rows} × ${vocab}`);
  }
  const out = new Float64Array(rows * vocab);
  const temperature = opts.temperature ?? 1;
  const topP = opts.topP ?? 1;
  for (let r = 0; r < rows; r++) {
    if (needed && !needed(r)) continue;
    softmaxRow(logits, r * vocab, vocab, out, r * vocab, temperature, opts.maskId ?? -1);
    if (topP < 1) nucleusRow(out, r * vocab, vocab, topP);
  }
  return out;
}

/** Natural-log entropy of one normalised row. */
export function rowEntropy(probs: ArrayLike<number>, offset: number, vocab: number): number {
  let h = 0;
  for (let v = 0; v < vocab; v++) {
    const p = probs[offset + v];
    if (p > 0) h -= p * Math.log(p);
  }
  return h;
}

/** Largest probability of one row (the model's confidence in its top token). */
export function rowConfidence(probs: ArrayLike<number>, offset: number, vocab: number): number {
  return probs[offset + argmax(probs, offset, vocab)];
}

/** Natural-log entropy of the empirical distribution of the ids in `ids`. */
export function unigramEntropy(ids: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  for (let i = 0; i < ids.length; i++) counts.set(ids[i], (counts.get(ids[i]) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / ids.length;
    h -= p * Math.log(p);
  }
  return h;
}
