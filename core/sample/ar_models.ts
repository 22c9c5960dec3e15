/**
 * Next-token models over an AR `Dit` (spec 4.7): an ordinary causal KV cache fed one token per
 * pass (`forwardCached` with b = 1 sees every cached token plus itself, which is exactly the
 * causal mask; the reference's own AR cache is shape-inconsistent and is not copied), and a
 * recompute path over the last ≤ W tokens, which the cached path must match until it slides.
 * @module
 */
import type { NextTokenModel } from "@blockdiff/schedules";
import type { KvCache } from "@blockdiff/kernels";
import type { Dit } from "../nn/dit.ts";
import { newGraph } from "../nn/graph.ts";
import { idsTensor, readLastRows } from "./_logits.ts";

/** AR sampling with a KV cache; the window slides one token at a time once full. */
export class KvArModel implements NextTokenModel, Disposable {
  readonly batch: number;
  readonly vocab: number;
  readonly #model: Dit;
  readonly #caches: KvCache[];
  passes = 0;

  constructor(model: Dit, batch: number, opts: { window?: number } = {}) {
    this.#model = model;
    this.batch = batch;
    this.vocab = model.config.vocab;
    this.#caches = model.createCaches(batch, opts.window ?? model.config.length);
  }

  reset(): void {
    for (const c of this.#caches) c.reset();
  }

  async append(tokens: Int32Array, n: number): Promise<Float32Array> {
    const gpu = this.#model.gpu;
    let out: Float32Array | null = null;
    for (let j = 0; j < n; j++) {
      const col = new Int32Array(this.batch);
      for (let r = 0; r < this.batch; r++) col[r] = tokens[r * n + j];
      using g = newGraph(gpu, { grad: false });
      const logits = this.#model.forwardCached(g, idsTensor(g, col, this.batch, 1), this.#caches, {
        commit: true,
      });
      this.passes++;
      // Only the last token's prediction is needed; earlier ones just fill the cache.
      if (j === n - 1) out = await readLastRows(gpu, logits, 1);
    }
    if (!out) throw new RangeError("append needs at least one token");
    return out;
  }

  dispose(): void {
    for (const c of this.#caches) c.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** AR sampling by recomputing the causal pass over the last ≤ W tokens every step. */
export class WindowArModel implements NextTokenModel {
  readonly batch: number;
  readonly vocab: number;
  readonly window: number;
  readonly #model: Dit;
  #context: number[][] = [];
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
    for (let r = 0; r < this.batch; r++) {
      this.#context[r].push(...tokens.subarray(r * n, (r + 1) * n));
    }
    const S = Math.min(this.#context[0].length, this.window);
    const ids = new Int32Array(this.batch * S);
    for (let r = 0; r < this.batch; r++) ids.set(this.#context[r].slice(-S), r * S);
    const gpu = this.#model.gpu;
    using g = newGraph(gpu, { grad: false });
    const logits = this.#model.forward(g, { ids: idsTensor(g, ids, this.batch, S) }, {
      kind: "causal",
    });
    this.passes++;
    return await readLastRows(gpu, logits, 1);
  }
}
