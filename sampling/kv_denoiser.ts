/**
 * BD3-LM block denoiser with the KV cache (docs/design.md, "KV cache and sliding window"):
 * committed blocks live in per-layer caches, a denoising call runs only the current block. When a
 * block would not fit the window the oldest committed blocks are dropped (the cache slides, as the
 * reference's does).
 * @module
 */
import type { BlockDenoiser, DrawRecord, ProbabilityOptions } from "@blockdiff/schedules";
import type { KvCache } from "@blockdiff/kernels";
import type { Dit } from "@blockdiff/model";
import { newGraph } from "@blockdiff/model";
import { idsTensor, LogitsDrawer, sigmaTensor } from "./_logits.ts";

/** Options of {@link KvBlockDenoiser}. */
export interface KvDenoiserOptions {
  /** Cache window W in tokens (default: the model length, as the HF reference). */
  window?: number;
}

/** A {@link BlockDenoiser} over `Dit.forwardCached`. Dispose it to free the caches. */
export class KvBlockDenoiser implements BlockDenoiser, Disposable {
  readonly batch: number;
  readonly vocab: number;
  /** Cache window W in tokens. */
  readonly window: number;
  readonly #model: Dit;
  readonly #caches: KvCache[];
  readonly #drawer: LogitsDrawer;
  /** Cached forward passes run (denoise and commit calls). */
  passes = 0;

  /** Allocates one KV cache per layer of `opts.window` positions for `batch` rows. */
  constructor(model: Dit, batch: number, opts: KvDenoiserOptions = {}) {
    this.#model = model;
    this.batch = batch;
    this.vocab = model.config.vocab;
    this.window = opts.window ?? model.config.length;
    this.#caches = model.createCaches(batch, this.window);
    this.#drawer = new LogitsDrawer(model.gpu);
  }

  /** Committed tokens in the cache. */
  get cached(): number {
    return this.#caches[0].length;
  }

  reset(): void {
    for (const c of this.#caches) c.reset();
  }

  /**
   * Drops the oldest committed blocks, whole, until a block of n tokens fits the window, so a
   * block never straddles the cache's end whatever the block sizes and the prompt's length.
   * The cache's own block record is the one truth (it also drops blocks on commit).
   */
  #makeRoom(n: number): void {
    if (n > this.window) throw new RangeError(`a block of ${n} exceeds the window ${this.window}`);
    const blocks = this.#caches[0].blocks;
    let drop = 0;
    for (let i = 0; this.cached - drop + n > this.window; i++) drop += blocks[i];
    if (drop > 0) { for (const c of this.#caches) c.slide(drop); }
  }

  /** A cached pass whose prediction stays on the device; the draw records are made there. */
  async denoise(
    block: Int32Array,
    n: number,
    t: number,
    uniforms: Float32Array,
    probs: ProbabilityOptions,
  ): Promise<DrawRecord> {
    this.#makeRoom(n);
    this.#drawer.stage(uniforms);
    using g = newGraph(this.#model.gpu, { grad: false });
    const ids = idsTensor(g, block, this.batch, n);
    const sigma = sigmaTensor(g, this.#model, this.batch, t);
    this.#drawer.keep(this.#model.forwardCached(g, ids, this.#caches, { sigma }), n);
    this.passes++;
    return await this.#drawer.draw(uniforms, probs);
  }

  redraw(uniforms: Float32Array, probs: ProbabilityOptions): Promise<DrawRecord> {
    return this.#drawer.draw(uniforms, probs);
  }

  /** A cached pass that writes the block's keys and values; its logits are not needed. */
  commit(block: Int32Array, n: number): Promise<void> {
    this.#makeRoom(n);
    using g = newGraph(this.#model.gpu, { grad: false });
    const ids = idsTensor(g, block, this.batch, n);
    const sigma = sigmaTensor(g, this.#model, this.batch, 0);
    this.#model.forwardCached(g, ids, this.#caches, { commit: true, sigma });
    this.passes++;
    return Promise.resolve();
  }

  /**
   * The prompt's full blocks in one block-causal pass (`Dit.prefill`) when the context is
   * empty and they leave room in the window; otherwise false (commit block by block).
   */
  async commitPrompt(ids: Int32Array, n: number, chunk: number): Promise<boolean> {
    if (this.cached > 0 || n % chunk !== 0 || n >= this.window) return false;
    const gpu = this.#model.gpu;
    using g = newGraph(gpu, { grad: false });
    this.#model.prefill(g, idsTensor(g, ids, this.batch, n), this.#caches, {
      blockSize: chunk,
      sigma: sigmaTensor(g, this.#model, this.batch, 0),
    });
    this.passes++;
    // Waiting here costs one round trip and lets the sampler's prefill time include the pass.
    await gpu.sync();
    return true;
  }

  /** Frees the caches and the draw buffers. */
  dispose(): void {
    for (const c of this.#caches) c.dispose();
    this.#drawer.dispose();
  }

  /** Frees the caches and the draw buffers (for `using`). */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
