/**
 * Stop rules (docs/design.md, "Stop rules"), checked on each row after every block (or token, for
 * AR). A rule looks only at generated tokens, so a BOS that equals EOS (GPT-2) or an EOS inside the
 * prompt never stops the sampler.
 * @module
 */
import { unigramEntropy } from "./probabilities.ts";

/** A fired rule: why, and how many tokens of the row to keep. */
export interface StopDecision {
  /** Human-readable cause, e.g. "eos" or "entropy 3.10 < 4". */
  reason: string;
  /** Keep tokens [0, cut). */
  cut: number;
}

/** A stop rule over one row; `from` is the index of the first generated token. */
export interface StopRule {
  /** Rule name, e.g. "eos". */
  readonly name: string;
  /** The decision for `row` (generated tokens start at `from`), or null when the rule does not fire. */
  check(row: ArrayLike<number>, from: number): StopDecision | null;
}

/** Stops at the first generated EOS and keeps it (the reference's var-length EOS cut). */
export function eosStop(eosId: number): StopRule {
  return {
    name: "eos",
    check(row, from) {
      for (let i = Math.max(from, 0); i < row.length; i++) {
        if (row[i] === eosId) return { reason: "eos", cut: i + 1 };
      }
      return null;
    },
  };
}

/** Options of {@link entropyStop}. */
export interface EntropyStopOptions {
  /** Trailing window of tokens (default 256). */
  window?: number;
  /** Stop when the window's unigram entropy (nats) is below this (default 4). */
  threshold?: number;
  /** Drop the low-entropy window from the output (default true, as the reference). */
  truncate?: boolean;
}

/**
 * Stops when the natural-log entropy of the empirical token distribution over the last
 * `window` generated tokens falls below `threshold` (degenerate repetition). Unlike the
 * reference, which pools all batch rows, each row is judged on its own.
 */
export function entropyStop(opts: EntropyStopOptions = {}): StopRule {
  const window = opts.window ?? 256, threshold = opts.threshold ?? 4;
  const truncate = opts.truncate ?? true;
  if (!Number.isInteger(window) || window < 1) {
    throw new RangeError(`entropy stop window must be a positive integer, got ${window}`);
  }
  return {
    name: "entropy",
    check(row, from) {
      if (row.length - from < window) return null;
      const tail = Array.prototype.slice.call(row, row.length - window) as number[];
      const h = unigramEntropy(tail);
      if (h >= threshold) return null;
      return {
        reason: `entropy ${h.toFixed(2)} < ${threshold}`,
        cut: truncate ? row.length - window : row.length,
      };
    },
  };
}

/**
 * Checks every rule; when several fire, the shortest cut wins. `minLength` (a row's minimum
 * length, `--min-stop-length`) hides the first tokens from the rules: an EOS before it does not
 * stop the row, and no cut falls below it.
 */
export function checkStop(
  rules: readonly StopRule[],
  row: ArrayLike<number>,
  from: number,
  minLength = 0,
): StopDecision | null {
  let best: StopDecision | null = null;
  for (const rule of rules) {
    const d = rule.check(row, Math.max(from, minLength));
    if (!d) continue;
    const cut = Math.max(d.cut, minLength);
    if (!best || cut < best.cut) best = { ...d, cut };
  }
  return best;
}
