/**
 * The model-side interfaces the samplers drive. They are implemented over the GPU model in
 * `@blockdiff/sampling` (draw records from the sample-draw kernel), and over host logits by
 * `host_models.ts` (draw records from the float64 reference) for tests and CPU-side checks;
 * samplers never see tensors or logits.
 * @module
 */
import type { DrawRecord } from "./draw_record.ts";
import type { ProbabilityOptions } from "./probabilities.ts";

/**
 * A block denoiser (BD3-LM semi-AR sampling; docs/design.md, "Denoisers"): it holds the committed
 * context (in a KV cache, or as ids it re-reads) and predicts the current block as draw records.
 */
export interface BlockDenoiser {
  /** Rows B sampled together. */
  readonly batch: number;
  /** Vocabulary size V of the prediction. */
  readonly vocab: number;
  /** Starts a new sample: the context becomes empty. */
  reset(): void | Promise<void>;
  /**
   * Predicts the current block `[B, n]` given the committed context and returns one draw
   * record per position (`[B·n]`, row-major), drawn with `uniforms` (`[B·n]`, in [0, 1)) from
   * p_θ processed by `probs`; `t` is the diffusion time (read only by time-conditioned
   * models). Does not change the context.
   */
  denoise(
    block: Int32Array,
    n: number,
    t: number,
    uniforms: Float32Array,
    probs: ProbabilityOptions,
  ): Promise<DrawRecord>;
  /** New records from the last `denoise` prediction with fresh uniforms (no network call). */
  redraw(uniforms: Float32Array, probs: ProbabilityOptions): Promise<DrawRecord>;
  /** Appends the finished block `[B, n]` to the context. */
  commit(block: Int32Array, n: number): Promise<void>;
  /**
   * Optional fast path for the prompt: appends `[B, n]` tokens (n a multiple of `chunk`) to an
   * empty context as blocks of `chunk`, with the same result as n/chunk `commit` calls but in
   * as few network passes as the implementation can (a KV cache: one). Returns false when it
   * cannot (e.g. the prompt exceeds its window), and the sampler then commits chunk by chunk.
   */
  commitPrompt?(ids: Int32Array, n: number, chunk: number): Promise<boolean>;
}

/** An autoregressive model fed token by token. */
export interface NextTokenModel {
  /** Rows B sampled together. */
  readonly batch: number;
  /** Vocabulary size V of the prediction. */
  readonly vocab: number;
  /** Starts a new sample. */
  reset(): void | Promise<void>;
  /**
   * Appends `[B, n]` tokens to the context; returns the draw record of the next token per row
   * (`[B]`), drawn with `uniforms` (`[B]`) from the next-token p_θ processed by `probs`.
   */
  append(
    tokens: Int32Array,
    n: number,
    uniforms: Float32Array,
    probs: ProbabilityOptions,
  ): Promise<DrawRecord>;
}

/** A full-sequence score network for SEDD's analytic sampler. */
export interface ScoreModel {
  /** Rows B scored together. */
  readonly batch: number;
  /** Sequence length L. */
  readonly length: number;
  /** Vocabulary size V of the scores. */
  readonly vocab: number;
  /** Raw network outputs `[B, L, V]` for `x` `[B, L]` at noise level σ. */
  scores(x: Int32Array, sigma: number): Promise<ArrayLike<number>>;
}
