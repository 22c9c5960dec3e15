/**
 * Inner (per-block) samplers: how a block of masked tokens is revealed from the network's
 * prediction p_θ (docs/design.md, "Inner samplers"). Each reads only the draw records of the
 * block's positions (a token drawn from p_θ, its probability, the arg-max and its probability)
 * and changes only masked positions, so visible tokens are carried over by construction.
 * @module
 */
import type { UniformSource } from "./rng.ts";
import type { DrawRecord } from "./draw_record.ts";

/** One step's inputs: the block `[B, b]` (changed in place) and its draw records `[B·b]`. */
export interface InnerStep {
  /** Tokens `[B, b]`, updated in place. */
  block: Int32Array;
  /** Draw records `[B·b]` for the block's positions. */
  draws: DrawRecord;
  /** Rows B. */
  batch: number;
  /** Block size b. */
  size: number;
  /** Id of the mask token. */
  maskId: number;
  /** Step index within the block, from 0. */
  step: number;
  /** Uniforms for the sampler's own choices (which positions to reveal). */
  rng: UniformSource;
}

/** A per-block sampler. */
export interface InnerSampler {
  /** Label for logs, e.g. "ancestral(T=4)". */
  readonly name: string;
  /**
   * Diffusion time t fed to the network at `step` for a block with `masked` masked tokens
   * (only time-conditioned models read it).
   */
  time(step: number, masked: number): number;
  /** Reveals some masked tokens; returns whether any token changed. */
  step(s: InnerStep): boolean;
}

/** Number of masked entries of `block`. */
export function countMasked(block: ArrayLike<number>, maskId: number): number {
  let n = 0;
  for (let i = 0; i < block.length; i++) if (block[i] === maskId) n++;
  return n;
}

/**
 * The ancestral (DDPM) update with the corrected grid (the last step reveals every remaining mask):
 * T steps per block at t_i = 1 − i/T, s = max(t_i − 1/T, 0). A masked token stays masked with
 * probability r = s/t and is otherwise drawn from p_θ; at s = 0 everything left is revealed, so no
 * mask survives and no weight is ever infinite. Deciding "stay" first and then drawing from p_θ is
 * the reference's single draw from W = ((1 − r)·p_θ, W_m = r) split in two.
 */
export function ancestral(steps: number): InnerSampler {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new RangeError(`ancestral: steps must be a positive integer, got ${steps}`);
  }
  return {
    name: `ancestral(T=${steps})`,
    time: (i) => Math.max(1 - i / steps, 1 / steps),
    step: revealAncestral,
  };

  /** The update; position j's token from p_θ is its drawn token. */
  function revealAncestral(s: InnerStep): boolean {
    const t = Math.max(1 - s.step / steps, 1 / steps);
    const next = Math.max(t - 1 / steps, 0);
    const stay = next / t;
    let changed = false;
    for (let j = 0; j < s.block.length; j++) {
      if (s.block[j] !== s.maskId) continue;
      if (next > 0 && s.rng.next() < stay) continue;
      s.block[j] = s.draws.tokens[j];
      changed = true;
    }
    return changed;
  }
}

/**
 * First-hitting: per row, one masked position chosen uniformly is revealed from
 * p_θ per call, so a block costs exactly as many calls as it has masks. Batched per row
 * (rows have different masked positions, so no choice can be shared): each row picks its own
 * position.
 */
export function firstHitting(): InnerSampler {
  return {
    name: "first-hitting",
    time: (_i, masked) => masked > 0 ? 1 : 0,
    step: revealFirstHitting,
  };
}

/** One uniformly chosen masked position per row gets its drawn token from p_θ. */
function revealFirstHitting(s: InnerStep): boolean {
  let changed = false;
  for (let r = 0; r < s.batch; r++) {
    const base = r * s.size;
    const masked: number[] = [];
    for (let j = 0; j < s.size; j++) if (s.block[base + j] === s.maskId) masked.push(base + j);
    if (!masked.length) continue;
    const j = masked[Math.min(masked.length - 1, Math.floor(s.rng.next() * masked.length))];
    s.block[j] = s.draws.tokens[j];
    changed = true;
  }
  return changed;
}

/** Options of {@link confidenceUnmasking}. */
export interface ConfidenceOptions {
  /** Reveal every masked position whose candidate has probability ≥ threshold. */
  threshold: number;
  /** Candidate = arg-max (true) or a draw from p_θ (false, default). */
  greedy?: boolean;
}

/**
 * Confidence-ordered parallel unmasking: per row, a candidate token is proposed at every
 * masked position; all positions whose candidate probability reaches the threshold are
 * revealed at once, and when none does, the single most confident one is, so every call
 * makes progress. High thresholds approach one token per call; low ones reveal many.
 */
export function confidenceUnmasking(opts: ConfidenceOptions): InnerSampler {
  const { threshold, greedy = false } = opts;
  if (!(threshold >= 0 && threshold <= 1)) {
    throw new RangeError(`confidence threshold must be in [0, 1], got ${threshold}`);
  }
  return {
    name: `confidence(≥${threshold}${greedy ? ", greedy" : ""})`,
    time: (_i, masked) => masked > 0 ? 1 : 0,
    step(s) {
      const d = s.draws;
      let changed = false;
      for (let r = 0; r < s.batch; r++) {
        let best = -1, bestP = -1;
        const reveal: number[] = [];
        for (let j = r * s.size; j < (r + 1) * s.size; j++) {
          if (s.block[j] !== s.maskId) continue;
          const p = greedy ? d.maxProb[j] : d.prob[j];
          if (p >= threshold) reveal.push(j);
          if (p > bestP) [best, bestP] = [j, p];
        }
        if (best < 0) continue;
        if (!reveal.length) reveal.push(best);
        for (const j of reveal) s.block[j] = greedy ? d.argmax[j] : d.tokens[j];
        changed = true;
      }
      return changed;
    },
  };
}
