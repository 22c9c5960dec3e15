/**
 * BD3-LM block denoiser without a KV cache (docs/design.md, "Denoisers"): every call recomputes the
 * window of the last ≤ W tokens (committed blocks plus the current one) with the block-causal mask
 * and keeps the current block's rows. The window starts on a committed block boundary.
 * @module
 */
import type { BlockDenoiser, DrawRecord, ProbabilityOptions } from "@blockdiff/schedules";
import type { Dit, ForwardMode } from "@blockdiff/model";
import { newGraph } from "@blockdiff/model";
import { idsTensor, LogitsDrawer, sigmaTensor } from "./_logits.ts";
import type { Graph, Var } from "@blockdiff/core";

/** Options of {@link WindowBlockDenoiser}. */
export interface WindowDenoiserOptions {
  /** Window W in tokens (default: the model length; the reference uses 1024). */
  window?: number;
}

/** A {@link BlockDenoiser} that re-reads its context on every call. Dispose it when done. */
export class WindowBlockDenoiser implements BlockDenoiser, Disposable {
  readonly batch: number;
  readonly vocab: number;
  /** Context window W in tokens re-read per call. */
  readonly window: number;
  readonly #model: Dit;
  #context: number[][] = [];
  #blocks: number[] = [];
  #drawer: LogitsDrawer | null = null;
  /** Forward passes run (denoise calls; a commit runs none). */
  passes = 0;

  /** Denoises `batch` rows with `model` over a window of `opts.window` tokens (default: the model length). */
  constructor(model: Dit, batch: number, opts: WindowDenoiserOptions = {}) {
    this.#model = model;
    this.batch = batch;
    this.vocab = model.config.vocab;
    this.window = opts.window ?? model.config.length;
    this.reset();
  }

  reset(): void {
    this.#context = Array.from({ length: this.batch }, () => []);
    this.#blocks = [];
  }

  /** Logits `[B, S, V]` of the window whose last n rows are the block. */
  #forward(g: Graph, block: Int32Array, n: number, t: number): Var {
    if (n > this.window) throw new RangeError(`a block of ${n} exceeds the window ${this.window}`);
    const total = this.#context[0].length;
    let start = 0, first = 0;
    while (total - start + n > this.window) start += this.#blocks[first++];
    const kept = this.#blocks.slice(first);
    const S = total - start + n;
    const ids = new Int32Array(this.batch * S);
    for (let r = 0; r < this.batch; r++) {
      ids.set(this.#context[r].slice(start), r * S);
      ids.set(block.subarray(r * n, (r + 1) * n), r * S + total - start);
    }
    // Equal blocks use the plain block-causal mask; mixed sizes (adaptive) need the starts.
    let mode: ForwardMode = { kind: "blockCausal", blockSize: n };
    if (kept.some((b) => b !== n)) {
      const starts = [0];
      for (const b of kept) starts.push(starts[starts.length - 1] + b);
      mode = { kind: "blockCausal", blockSize: n, blockStarts: starts };
    }
    const sigma = sigmaTensor(g, this.#model, this.batch, t);
    this.passes++;
    const input = { ids: idsTensor(g, ids, this.batch, S), sigma, logitsRows: n };
    return this.#model.forward(g, input, mode);
  }

  /** The window's pass with the block's draw records made on the device. */
  async denoise(
    block: Int32Array,
    n: number,
    t: number,
    uniforms: Float32Array,
    probs: ProbabilityOptions,
  ): Promise<DrawRecord> {
    this.#drawer ??= new LogitsDrawer(this.#model.gpu);
    this.#drawer.stage(uniforms);
    using g = newGraph(this.#model.gpu, { grad: false });
    this.#drawer.keep(this.#forward(g, block, n, t), n);
    return await this.#drawer.draw(uniforms, probs);
  }

  redraw(uniforms: Float32Array, probs: ProbabilityOptions): Promise<DrawRecord> {
    if (!this.#drawer) throw new RangeError("redraw before any denoise");
    return this.#drawer.draw(uniforms, probs);
  }

  /** Frees the device buffers of the draws. */
  dispose(): void {
    this.#drawer?.dispose();
    this.#drawer = null;
  }

  /** Frees the device buffers of the draws (for `using`). */
  [Symbol.dispose](): void {
    this.dispose();
  }

  commit(block: Int32Array, n: number): Promise<void> {
    for (let r = 0; r < this.batch; r++) {
      this.#context[r].push(...block.subarray(r * n, (r + 1) * n));
    }
    this.#blocks.push(n);
    return Promise.resolve();
  }
}
