/**
 * BD3-LM block denoiser with the KV cache (spec 2.3): committed blocks live in per-layer
 * caches, a denoising call runs only the current block. When a block would not fit the window
 * the oldest committed blocks are dropped (the cache slides, as the reference's does).
 * @module
 */
import type { BlockDenoiser, CandidateDraws, ProbabilityOptions } from "@blockdiff/schedules";
import type { KvCache } from "@blockdiff/kernels";
import type { Dit } from "@blockdiff/model";
import { newGraph } from "@blockdiff/model";
import { idsTensor, LogitsDrawer, readLastRows, sigmaTensor } from "./_logits.ts";

/** Options of {@link KvBlockDenoiser}. */
export interface KvDenoiserOptions {
  /** Cache window W in tokens (default: the model length, as the HF reference). */
  window?: number;
}

/** A {@link BlockDenoiser} over `Dit.forwardCached`. Dispose it to free the caches. */
export class KvBlockDenoiser implements BlockDenoiser, Disposable {
  readonly batch: number;
  readonly vocab: number;
  readonly window: number;
  readonly #model: Dit;
  readonly #caches: KvCache[];
  readonly #drawer: LogitsDrawer;
  /** Sizes of the committed blocks still in the window, oldest first. */
  #blocks: number[] = [];
  /** Cached forward passes run (denoise and commit calls). */
  passes = 0;

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
    return this.#blocks.reduce((a, b) => a + b, 0);
  }

  reset(): void {
    for (const c of this.#caches) c.reset();
    this.#blocks = [];
  }

  /** Drops the oldest committed blocks until a block of n tokens fits the window. */
  #makeRoom(n: number): void {
    if (n > this.window) throw new RangeError(`a block of ${n} exceeds the window ${this.window}`);
    let drop = 0;
    while (this.cached - drop + n > this.window) drop += this.#blocks.shift()!;
    if (drop > 0) { for (const c of this.#caches) c.slide(drop); }
  }

  async #run(block: Int32Array, n: number, t: number, commit: boolean): Promise<Float32Array> {
    this.#makeRoom(n);
    const gpu = this.#model.gpu;
    using g = newGraph(gpu, { grad: false });
    const ids = idsTensor(g, block, this.batch, n);
    const sigma = sigmaTensor(g, this.#model, this.batch, t);
    const logits = this.#model.forwardCached(g, ids, this.#caches, { commit, sigma });
    this.passes++;
    if (!commit) return await readLastRows(gpu, logits, n);
    this.#blocks.push(n);
    // KvCache.commit drops whole oldest blocks once the window is full; mirror it.
    while (this.cached >= this.window) this.#blocks.shift();
    return new Float32Array(0);
  }

  denoise(block: Int32Array, n: number, t: number): Promise<Float32Array> {
    return this.#run(block, n, t, false);
  }

  /** A cached pass whose prediction stays on the device; candidates drawn there. */
  async denoiseDraws(
    block: Int32Array,
    n: number,
    t: number,
    uniforms: Float32Array,
    probs: ProbabilityOptions,
  ): Promise<CandidateDraws> {
    this.#makeRoom(n);
    this.#drawer.stage(uniforms);
    using g = newGraph(this.#model.gpu, { grad: false });
    const ids = idsTensor(g, block, this.batch, n);
    const sigma = sigmaTensor(g, this.#model, this.batch, t);
    this.#drawer.keep(this.#model.forwardCached(g, ids, this.#caches, { sigma }), n);
    this.passes++;
    return await this.#drawer.draw(uniforms, probs);
  }

  redraw(uniforms: Float32Array, probs: ProbabilityOptions): Promise<CandidateDraws> {
    return this.#drawer.draw(uniforms, probs);
  }

  async commit(block: Int32Array, n: number): Promise<void> {
    await this.#run(block, n, 0, true);
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
    for (let i = 0; i < n; i += chunk) this.#blocks.push(chunk);
    // Waiting here costs one round trip and lets the sampler's prefill time include the pass.
    await gpu.sync();
    return true;
  }

  dispose(): void {
    for (const c of this.#caches) c.dispose();
    this.#drawer.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
