/**
 * The model-side interfaces the samplers drive. They are implemented over the GPU model in
 * `@blockdiff/sampling`, and by plain functions in tests; samplers never see tensors.
 * @module
 */

import type { ProbabilityOptions } from "./probabilities.ts";

/**
 * One candidate token per predicted position, drawn where the prediction lives (on the GPU)
 * so that only these few numbers travel back: with uniform u_i, token_i is the inverse-CDF draw
 * from row i of p_θ after the mask class is removed, temperature and the nucleus filter
 * (`toProbabilities` + `drawCategorical`), prob_i its probability under that distribution,
 * argmax_i / maxProb_i the most likely token and its probability, entropy_i the entropy (nats)
 * of the unfiltered row.
 */
export interface CandidateDraws {
  tokens: Int32Array;
  prob: ArrayLike<number>;
  argmax: Int32Array;
  maxProb: ArrayLike<number>;
  entropy: ArrayLike<number>;
}

/**
 * A block denoiser (BD3-LM semi-AR sampling; docs/design.md, "Denoisers"): it holds the committed
 * context (in a KV cache, or as ids it re-reads) and predicts the current block.
 */
export interface BlockDenoiser {
  /** Rows B sampled together. */
  readonly batch: number;
  /** Vocabulary size V of the returned rows. */
  readonly vocab: number;
  /** Starts a new sample: the context becomes empty. */
  reset(): void | Promise<void>;
  /**
   * Logits (or log-probabilities) `[B, n, V]` for the current block `[B, n]` given the committed
   * context; `t` is the diffusion time (read only by time-conditioned models). Does not change
   * the context.
   */
  denoise(block: Int32Array, n: number, t: number): Promise<ArrayLike<number>>;
  /** Appends the finished block `[B, n]` to the context. */
  commit(block: Int32Array, n: number): Promise<void>;
  /**
   * Optional fast path for the prompt: appends `[B, n]` tokens (n a multiple of `chunk`) to an
   * empty context as blocks of `chunk`, with the same result as n/chunk `commit` calls but in
   * as few network passes as the implementation can (a KV cache: one). Returns false when it
   * cannot (e.g. the prompt exceeds its window), and the sampler then commits chunk by chunk.
   */
  commitPrompt?(ids: Int32Array, n: number, chunk: number): Promise<boolean>;
  /**
   * Optional device-side sampling: like `denoise`, but returns one candidate per position
   * drawn with `uniforms` (`[B·n]`, in [0, 1)) instead of the logits. Used by samplers whose
   * inner sampler has `fromDraws`.
   */
  denoiseDraws?(
    block: Int32Array,
    n: number,
    t: number,
    uniforms: Float32Array,
    probs: ProbabilityOptions,
  ): Promise<CandidateDraws>;
  /** New candidates from the last `denoiseDraws` prediction (no network call). */
  redraw?(uniforms: Float32Array, probs: ProbabilityOptions): Promise<CandidateDraws>;
}

/** An autoregressive model fed token by token. */
export interface NextTokenModel {
  readonly batch: number;
  readonly vocab: number;
  /** Starts a new sample. */
  reset(): void | Promise<void>;
  /** Appends `[B, n]` tokens to the context; returns next-token logits `[B, V]`. */
  append(tokens: Int32Array, n: number): Promise<ArrayLike<number>>;
  /** Optional device-side sampling: `append`, then one next token per row drawn with `uniforms`. */
  appendDraws?(
    tokens: Int32Array,
    n: number,
    uniforms: Float32Array,
    probs: ProbabilityOptions,
  ): Promise<CandidateDraws>;
}

/** A full-sequence score network for SEDD's analytic sampler. */
export interface ScoreModel {
  readonly batch: number;
  /** Sequence length L. */
  readonly length: number;
  readonly vocab: number;
  /** Raw network outputs `[B, L, V]` for `x` `[B, L]` at noise level σ. */
  scores(x: Int32Array, sigma: number): Promise<ArrayLike<number>>;
}
