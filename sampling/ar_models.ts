/**
 * Next-token models over an AR `Dit`: an ordinary causal KV cache fed one token per
 * pass (`forwardCached` with b = 1 sees every cached token plus itself, which is exactly the
 * causal mask; the reference's own AR cache is shape-inconsistent and is not copied), and a
 * recompute path over the last ≤ W tokens, which the cached path must match until it slides.
 * @module
 */
import type { CandidateDraws, NextTokenModel, ProbabilityOptions } from "@blockdiff/schedules";
import type { KvCache } from "@blockdiff/kernels";
import type { Dit } from "@blockdiff/model";
import { newGraph } from "@blockdiff/model";
import { idsTensor, LogitsDrawer, readLastRows } from "./_logits.ts";
import type { Graph, Var } from "@blockdiff/core";

/** AR sampling with a KV cache; the window slides one token at a time once full. */
export class KvArModel implements NextTokenModel, Disposable {
  readonly batch: number;
  readonly vocab: number;
  readonly #model: Dit;
  readonly #caches: KvCache[];
  readonly #drawer: LogitsDrawer;
  passes = 0;

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

  append(tokens: Int32Array, n: number): Promise<Float32Array> {
    return this.#append(tokens, n, (logits) => readLastRows(this.#model.gpu, logits, 1));
  }

  /** `append` with the next tokens drawn on the device (only ids come back). */
  appendDraws(
    tokens: Int32Array,
    n: number,
    uniforms: Float32Array,
    probs: ProbabilityOptions,
  ): Promise<CandidateDraws> {
    this.#drawer.stage(uniforms);
    return this.#append(tokens, n, (logits) => {
      this.#drawer.keep(logits, 1);
      return this.#drawer.draw(uniforms, probs);
    });
  }

  /** Feeds n tokens; `finish` gets the logits whose last row predicts the next token. */
  async #append<T>(tokens: Int32Array, n: number, finish: (logits: Var) => Promise<T>): Promise<T> {
    if (n < 1) throw new RangeError("append needs at least one token");
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

  dispose(): void {
    for (const c of this.#caches) c.dispose();
    this.#drawer.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** AR sampling by recomputing the causal pass over the last ≤ W tokens every step. */
export class WindowArModel implements NextTokenModel, Disposable {
  readonly batch: number;
  readonly vocab: number;
  readonly window: number;
  readonly #model: Dit;
  #context: number[][] = [];
  #drawer: LogitsDrawer | null = null;
  passes = 0;

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

  async append(tokens: Int32Array, n: number): Promise<Float32Array> {
    using g = newGraph(this.#model.gpu, { grad: false });
    return await readLastRows(this.#model.gpu, this.#forward(g, tokens, n), 1);
  }

  /** `append` with the next tokens drawn on the device (only ids come back). */
  async appendDraws(
    tokens: Int32Array,
    n: number,
    uniforms: Float32Array,
    probs: ProbabilityOptions,
  ): Promise<CandidateDraws> {
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
