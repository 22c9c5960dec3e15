/**
 * Host denoisers: a {@link BlockDenoiser} or {@link NextTokenModel} over a function that gives
 * host logits, whose draw records come from the float64 reference of the sample-draw kernel
 * (`hostDrawRecords`). The samplers then run exactly the path they run on the GPU; only the
 * records' source differs. For tests and CPU-side checks.
 * @module
 */
import type { BlockDenoiser, NextTokenModel } from "./denoiser.ts";
import { type DrawRecord, hostDrawRecords } from "./draw_record.ts";
import type { ProbabilityOptions } from "./probabilities.ts";

/** What a host block model provides: logits instead of draw records. */
export interface HostBlockModel {
  /** Rows B. */
  readonly batch: number;
  /** Vocabulary size V (width of each logits row). */
  readonly vocab: number;
  /** Promise<void>; | Starts a new sample: the context becomes empty. */
  reset(): void | Promise<void>;
  /** Logits `[B, n, V]` for the current block `[B, n]` at diffusion time `t`. */
  logits(block: Int32Array, n: number, t: number): ArrayLike<number> | Promise<ArrayLike<number>>;
  /** Appends the finished block `[B, n]` to the context. */
  commit(block: Int32Array, n: number): void | Promise<void>;
  /** Optional prompt fast path, as {@link BlockDenoiser.commitPrompt}. */
  commitPrompt?(ids: Int32Array, n: number, chunk: number): Promise<boolean>;
}

/** What a host next-token model provides: next-token logits `[B, V]` after appending. */
export interface HostNextTokenModel {
  /** Rows B. */
  readonly batch: number;
  /** Vocabulary size V (width of each logits row). */
  readonly vocab: number;
  /** Promise<void>; | Starts a new sample: the context becomes empty. */
  reset(): void | Promise<void>;
  /** Appends `[B, n]` tokens to the context; returns next-token logits `[B, V]`. */
  append(tokens: Int32Array, n: number): ArrayLike<number> | Promise<ArrayLike<number>>;
}

function recordOptions(probs: ProbabilityOptions) {
  return { maskId: probs.maskId, topP: probs.topP, temperature: probs.temperature };
}

/** A {@link BlockDenoiser} whose records are drawn on the host from `model`'s logits. */
export function hostBlockDenoiser(model: HostBlockModel): BlockDenoiser {
  let last: ArrayLike<number> | null = null;
  const denoiser: BlockDenoiser = {
    get batch() {
      return model.batch;
    },
    get vocab() {
      return model.vocab;
    },
    async reset() {
      last = null;
      await model.reset();
    },
    async denoise(block, n, t, uniforms, probs) {
      last = await model.logits(block, n, t);
      return hostDrawRecords(last, model.vocab, uniforms, recordOptions(probs));
    },
    redraw(uniforms, probs): Promise<DrawRecord> {
      if (!last) throw new RangeError("redraw before any denoise");
      return Promise.resolve(hostDrawRecords(last, model.vocab, uniforms, recordOptions(probs)));
    },
    async commit(block, n) {
      await model.commit(block, n);
    },
  };
  if (model.commitPrompt) denoiser.commitPrompt = model.commitPrompt.bind(model);
  return denoiser;
}

/** A {@link NextTokenModel} whose next tokens are drawn on the host from `model`'s logits. */
export function hostNextTokenModel(model: HostNextTokenModel): NextTokenModel {
  return {
    get batch() {
      return model.batch;
    },
    get vocab() {
      return model.vocab;
    },
    reset: () => model.reset(),
    async append(tokens, n, uniforms, probs) {
      const logits = await model.append(tokens, n);
      return hostDrawRecords(logits, model.vocab, uniforms, recordOptions(probs));
    },
  };
}
