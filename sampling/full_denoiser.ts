/**
 * Full-sequence models: MDLM as a {@link BlockDenoiser} whose one block is the whole sequence
 * (bidirectional attention), and SEDD's score network for the analytic sampler.
 * @module
 */
import type {
  BlockDenoiser,
  DrawRecord,
  ProbabilityOptions,
  ScoreModel,
} from "@blockdiff/schedules";
import { Tensor } from "@blockdiff/core";
import type { Dit } from "@blockdiff/model";
import { newGraph } from "@blockdiff/model";
import { rowRange } from "@blockdiff/model";
import type { Var } from "@blockdiff/core";
import { idsTensor, LogitsDrawer, sigmaTensor } from "./_logits.ts";

/**
 * MDLM denoiser: `denoise` runs the full bidirectional pass; there is no context to commit.
 * Dispose it when done (it holds the device buffers of its draws).
 */
export class FullSequenceDenoiser implements BlockDenoiser, Disposable {
  readonly batch: number;
  readonly vocab: number;
  readonly #model: Dit;
  #drawer: LogitsDrawer | null = null;
  readonly #chunkRows: number | undefined;
  /** Forward passes run (one per denoise call). */
  passes = 0;

  /**
   * `logitsChunkRows` caps the positions projected to the vocabulary at once (default: as
   * many as fit one storage binding, `Dit.logitsRowsPerChunk`).
   */
  constructor(model: Dit, batch: number, opts: { logitsChunkRows?: number } = {}) {
    this.#model = model;
    this.batch = batch;
    this.vocab = model.config.vocab;
    this.#chunkRows = opts.logitsChunkRows;
  }

  reset(): void {}

  /**
   * Runs the full pass and hands the logits to `use` in row chunks that each fit one storage
   * binding (one chunk unless B·n·V is large): `use(logits [B, c, V], start)`.
   */
  async #pass(
    block: Int32Array,
    n: number,
    t: number,
    use: (logits: Var, start: number) => Promise<void> | void,
  ): Promise<void> {
    const model = this.#model;
    using g = newGraph(model.gpu, { grad: false });
    const sigma = sigmaTensor(g, model, this.batch, t);
    const ids = idsTensor(g, block, this.batch, n);
    const { h, cvec } = model.hidden(g, { ids, sigma }, { kind: "full" });
    this.passes++;
    const step = Math.min(this.#chunkRows ?? Infinity, model.logitsRowsPerChunk(this.batch));
    if (step >= n) return await use(model.logits(g, h, cvec), 0);
    for (let start = 0; start < n; start += step) {
      // Each chunk's graph values are freed with the chunk, so only one is alive at a time.
      using gc = newGraph(model.gpu, { grad: false });
      const count = Math.min(step, n - start);
      await use(model.logits(gc, rowRange(gc, h, start, count), cvec), start);
    }
  }

  /** The full pass with the draw records made on the device, chunk by chunk. */
  async denoise(
    block: Int32Array,
    n: number,
    t: number,
    uniforms: Float32Array,
    probs: ProbabilityOptions,
  ): Promise<DrawRecord> {
    const drawer = this.#drawer ??= new LogitsDrawer(this.#model.gpu);
    drawer.stage(uniforms);
    drawer.begin(this.batch, n);
    await this.#pass(block, n, t, (logits, start) => {
      drawer.add(logits, 0, start, logits.shape[1]);
    });
    return await drawer.draw(uniforms, probs);
  }

  redraw(uniforms: Float32Array, probs: ProbabilityOptions): Promise<DrawRecord> {
    if (!this.#drawer) throw new RangeError("redraw before any denoise");
    return this.#drawer.draw(uniforms, probs);
  }

  commit(): Promise<void> {
    return Promise.resolve();
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
}

/** SEDD score network: raw outputs of the full pass at noise level σ. */
export class DitScoreModel implements ScoreModel {
  /** Rows B scored together. */
  readonly batch: number;
  readonly length: number;
  /** Vocabulary size V of the scores. */
  readonly vocab: number;
  readonly #model: Dit;

  /** Scores `batch` rows of the model's full length with `model`. */
  constructor(model: Dit, batch: number) {
    this.#model = model;
    this.batch = batch;
    this.length = model.config.length;
    this.vocab = model.config.vocab;
  }

  async scores(x: Int32Array, sigma: number): Promise<Float32Array> {
    const gpu = this.#model.gpu;
    using g = newGraph(gpu, { grad: false });
    const s = g.keep(Tensor.from(gpu, new Float32Array(this.batch).fill(sigma), [this.batch]));
    const ids = idsTensor(g, x, this.batch, this.length);
    const logits = this.#model.forward(g, { ids, sigma: s }, { kind: "full" });
    return await logits.value.readFloat();
  }
}
