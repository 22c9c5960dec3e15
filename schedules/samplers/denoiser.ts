/**
 * The model-side interfaces the samplers drive. They are implemented over the GPU model in
 * `@blockdiff/core/sample`, and by plain functions in tests; samplers never see tensors.
 * @module
 */

/**
 * A block denoiser (BD3-LM semi-AR sampling, spec 2.2–2.3): it holds the committed context
 * (in a KV cache, or as ids it re-reads) and predicts the current block.
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
}

/** An autoregressive model fed token by token (spec 4.7). */
export interface NextTokenModel {
  readonly batch: number;
  readonly vocab: number;
  /** Starts a new sample. */
  reset(): void | Promise<void>;
  /** Appends `[B, n]` tokens to the context; returns next-token logits `[B, V]`. */
  append(tokens: Int32Array, n: number): Promise<ArrayLike<number>>;
}

/** A full-sequence score network for SEDD's analytic sampler (spec 4.8). */
export interface ScoreModel {
  readonly batch: number;
  /** Sequence length L. */
  readonly length: number;
  readonly vocab: number;
  /** Raw network outputs `[B, L, V]` for `x` `[B, L]` at noise level σ. */
  scores(x: Int32Array, sigma: number): Promise<ArrayLike<number>>;
}
