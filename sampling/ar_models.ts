/**
 * Next-token models over an AR `Dit`: an ordinary causal KV cache fed one token per
 * pass (`forwardCached` with b = 1 sees every cached token plus itself, which is exactly the
 * causal mask; the reference's own AR cache is shape-inconsistent and is not copied), and a
 * recompute path over the last ≤ W tokens, which the cached path must match until it slides.
 * @module
 */
import type { DrawRecord, NextTokenModel, ProbabilityOptions } from "@blockdiff/schedules";
import type { KvCache } from "@blockdiff/kernels";
import type { Dit } from "@blockdiff/model";
import { newGraph } from "@blockdiff/model";
import { idsTensor, LogitsDrawer } from "./_logits.ts";
import type { Graph, Var } from "@blockdiff/core";

/** AR sampling with a KV cache; the window slides one token at a time once full. */
export class KvArModel implements NextTokenModel, Disposable {
  /** Rows B sampled together. */
  readonly batch: number;
  /** Vocabulary size V of the model. */
  readonly vocab: number;
  readonly #model: Dit;
  readonly #caches: KvCache[];
  readonly #drawer: LogitsDrawer;
  /** Forward passes run (prompt chunks and single-token steps). */
  passes = 0;

  /** Allocates one KV cache per layer, of `opts.window` positions (default: the model length). */
  constructor(model: Dit, batch: number, opts: { window?: number } = {}) {
    this.#model = model;
    this.batch = batch;
    this.vocab = model.config.vocab;
    this.#caches = model.createCaches(batch, opts.window ?? model.config.length);
    this.#drawer = new LogitsDrawer(model.gpu);
  }

  reset(): void {
    for (const c of this.#caches) c.reset();
  }

  /** Feeds n tokens; the next tokens are drawn on the device (only draw records come back). */
  async append(
    tokens: Int32Array,
    n: number,
    uniforms: Float32Array,
    probs: ProbabilityOptions,
  ): Promise<DrawRecord> {
    if (n < 1) throw new RangeError("append needs at least one token");
    this.#drawer.stage(uniforms);
    // The logits whose last row predicts the next token.
    const finish = (logits: Var) => {
      this.#drawer.keep(logits, 1);
      return this.#drawer.draw(uniforms, probs);
    };
    const gpu = this.#model.gpu;
    // A prompt into an empty cache: one causal pass fills every layer's cache (`Dit.prefill`),
    // as long as it does not reach the window's end (where the cache starts sliding).
    if (n > 1 && this.#caches[0].length === 0 && n < this.#caches[0].capacity) {
      using g = newGraph(gpu, { grad: false });
      const logits = this.#model.prefill(g, idsTensor(g, tokens, this.batch, n), this.#caches, {
        blockSize: 1,
        logitsRows: 1,
      })!;
      this.passes++;
      return await finish(logits);
    }
    for (let j = 0; j < n - 1; j++) {
      using g = newGraph(gpu, { grad: false });
      this.#model.forwardCached(
        g,
        idsTensor(g, column(tokens, this.batch, n, j), this.batch, 1),
        this.#caches,
        {
          commit: true,
        },
      );
      this.passes++;
    }
    // Only the last token's prediction is needed; earlier ones just fill the cache.
    using g = newGraph(gpu, { grad: false });
    const logits = this.#model.forwardCached(
      g,
      idsTensor(g, column(tokens, this.batch, n, n - 1), this.batch, 1),
      this.#caches,
      { commit: true },
    );
    this.passes++;
    return await finish(logits);
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

/** AR sampling by recomputing the causal pass over the last ≤ W tokens every step. */
export class WindowArModel implements NextTokenModel, Disposable {
  /** Rows B sampled together. */
  readonly batch: number;
  /** Vocabulary size V of the model. */
  readonly vocab: number;
  /** Context window W in tokens: the most recent tokens re-read per step. */
  readonly window: number;
  readonly #model: Dit;
  #context: number[][] = [];
  #drawer: LogitsDrawer | null = null;
  /** Forward passes run (one per appended step). */
  passes = 0;

  /** Samples `batch` rows from `model` over a window of `opts.window` tokens (default: the model length). */
  constructor(model: Dit, batch: number, opts: { window?: number } = {}) {
    this.#model = model;
    this.batch = batch;
    this.vocab = model.config.vocab;
    this.window = opts.window ?? model.config.length;
    this.reset();
  }

  reset(): void {
    this.#context = Array.from({ length: this.batch }, () => []);
  }

  /** Feeds n tokens; the next tokens are drawn on the device (only draw records come back). */
  async append(
    tokens: Int32Array,
    n: number,
    uniforms: Float32Array,
    probs: ProbabilityOptions,
  ): Promise<DrawRecord> {
    this.#drawer ??= new LogitsDrawer(this.#model.gpu);
    this.#drawer.stage(uniforms);
    using g = newGraph(this.#model.gpu, { grad: false });
    this.#drawer.keep(this.#forward(g, tokens, n), 1);
    return await this.#drawer.draw(uniforms, probs);
  }

  /** Frees the device buffers of the draws. */
  dispose(): void {
    this.#drawer?.dispose();
    this.#drawer = null;
  }

  /** Frees the draw buffers (for `using`). */
  [Symbol.dispose](): void {
    this.dispose();
  }

  #forward(g: Graph, tokens: Int32Array, n: number): Var {
    for (let r = 0; r < this.batch; r++) {
      this.#context[r].push(...tokens.subarray(r * n, (r + 1) * n));
    }
    const S = Math.min(this.#context[0].length, this.window);
    const ids = new Int32Array(this.batch * S);
    for (let r = 0; r < this.batch; r++) ids.set(this.#context[r].slice(-S), r * S);
    this.passes++;
    const input = { ids: idsTensor(g, ids, this.batch, S), logitsRows: 1 };
    return this.#model.forward(g, input, { kind: "causal" });
  }
}

/** Column j of row-major tokens `[B, n]`, as `[B]`. */
function column(tokens: Int32Array, batch: number, n: number, j: number): Int32Array {
  const col = new Int32Array(batch);
  for (let r = 0; r < batch; r++) col[r] = tokens[r * n + j];
  return col;
}
