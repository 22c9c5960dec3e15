/**
 * The DiT backbone of the reference (docs/design.md, "The model and its masks"), read top to
 * bottom: embedding → (σ embedder → cvec) → N blocks [LN1+adaLN → qkv → rotary → attention
 * (masked, or against a KV cache) → out-proj → gated residual → LN2+adaLN → MLP(GELU-tanh) →
 * gated residual] → final LN+adaLN → untied output layer. The block is `ditBlock`
 * (dit_block.ts), shared by the uncached, prefill and KV-cached passes. Shapes in comments:
 * B batch, S sequence, d hidden, V vocabulary.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { Tensor } from "@blockdiff/core";
import type { Graph, Var } from "@blockdiff/core";
import type { ModelConfig } from "../io/model_config.ts";
import { ShapeError } from "@blockdiff/core";
import type { ParamSet } from "./params.ts";
import {
  act,
  attend,
  embed,
  leadingRows,
  linear,
  norm,
  setHalfWeight,
  trailingRows,
} from "./ops.ts";
import { type BlockAttention, type BlockDropout, ditBlock } from "./dit_block.ts";
import {
  attention,
  type AttentionMask,
  BlockTable,
  KvCache,
  qkvOperands,
  RotaryTable,
  timestepEmbedding,
} from "@blockdiff/kernels";

/** Which attention pattern a forward pass uses (docs/design.md, "Masks"). */
export type ForwardMode =
  /** BD3-LM training/likelihood: ids are `[x_t ; x0]` (S = 2L); returns logits of the x_t half. */
  | { kind: "bdTrain"; blockStarts?: readonly number[] }
  /** MDLM / SEDD: bidirectional over S ≤ L. */
  | { kind: "full" }
  /** AR: causal over S. */
  | { kind: "causal" }
  /** Block-causal over the sampling window (no KV cache). */
  | { kind: "blockCausal"; blockSize: number; blockStarts?: readonly number[] };

/** Inputs of a forward pass. */
export interface ForwardInput {
  /** Token ids, i32 `[B, S]`. */
  ids: Tensor;
  /** The same ids on the host: needed for training (the embedding's backward). */
  idsHost?: Int32Array | null;
  /** Per-sequence σ `[B]` for time-conditioned models (SEDD); zeros are used otherwise. */
  sigma?: Tensor | null;
  /**
   * Inference: project only the last `logitsRows` positions to the vocabulary (samplers need
   * the current block's rows; the whole window's logits can exceed a storage binding).
   */
  logitsRows?: number;
  /** Dropout stream: seed and a per-step offset (training only). */
  dropoutSeed?: number;
  /** Per-step offset into the dropout stream of `dropoutSeed`. */
  dropoutOffset?: number;
}

/**
 * Whether f16 weight copies (`Dit.useHalfWeights`) pay on this adapter: on hardware with
 * `shader-f16`, where the sampling GEMVs are bound by weight bandwidth; not on CPU drivers,
 * where f16 loads measured no faster than f32 (lavapipe).
 */
export function halfWeightsPay(gpu: Gpu): boolean {
  return gpu.features.f16 && !gpu.info.isSoftware;
}

/** The backbone bound to its parameters. */
export class Dit implements Disposable {
  /** The device the parameters live on. */
  readonly gpu: Gpu;
  /** The model configuration (same as `params.config`). */
  readonly config: ModelConfig;
  /** The parameters, owned by the caller. */
  readonly params: ParamSet;
  /** Channels per attention head: hidden size / heads. */
  readonly headDim: number;
  readonly #rotary: RotaryTable;
  readonly #blockTables = new Map<string, BlockTable>();
  #zeroSigma: Tensor | null = null;
  #half = false;

  /** Binds `params` on `gpu` and builds a rotary table of max(2048, 2·length) positions. */
  constructor(gpu: Gpu, params: ParamSet) {
    this.gpu = gpu;
    this.config = params.config;
    this.params = params;
    this.headDim = this.config.hidden / this.config.heads;
    // Positions up to the longest window any mode uses (sampling windows slide inside 1024+).
    this.#rotary = RotaryTable.create(gpu, this.headDim, Math.max(2048, 2 * this.config.length));
  }

  /** The rotary table (shared with KV-cached sampling). */
  get rotary(): RotaryTable {
    return this.#rotary;
  }

  #blockTable(starts: readonly number[], length: number): BlockTable {
    const key = `${length}:${starts.join(",")}`;
    let t = this.#blockTables.get(key);
    if (t) {
      // Most recently used last, so the oldest is evicted first.
      this.#blockTables.delete(key);
      this.#blockTables.set(key, t);
      return t;
    }
    t = BlockTable.create(this.gpu, starts, length);
    this.#blockTables.set(key, t);
    if (this.#blockTables.size > 32) {
      // Adaptive block sizes make new boundaries often; keep a bounded set. A table may still be
      // read by recorded work, so it goes back to the pool (reused only by later work) rather
      // than being destroyed.
      const [oldest, table] = this.#blockTables.entries().next().value!;
      this.#blockTables.delete(oldest);
      table.dispose();
    }
    return t;
  }

  #mask(mode: ForwardMode, half: number): AttentionMask {
    switch (mode.kind) {
      case "full":
        return { kind: "full" };
      case "causal":
        return { kind: "causal" };
      case "bdTrain":
        return mode.blockStarts
          ? { kind: "bdTrain", blocks: this.#blockTable(mode.blockStarts, half) }
          : { kind: "bdTrain", blockSize: this.config.blockSize };
      case "blockCausal":
        return mode.blockStarts
          ? { kind: "blockCausal", blocks: this.#blockTable(mode.blockStarts, half) }
          : { kind: "blockCausal", blockSize: mode.blockSize };
    }
  }

  /**
   * cvec = SiLU(MLP(timestep features of σ)) `[B, c]` (docs/design.md, "adaLN conditioning"), or
   * null without adaLN.
   */
  conditioning(g: Graph, batch: number, sigma?: Tensor | null): Var | null {
    if (!this.config.adaln) return null;
    const p = this.params;
    let s = sigma && this.config.timeConditioning ? sigma : null;
    if (!s) {
      if (!this.#zeroSigma || this.#zeroSigma.size !== batch) {
        this.#zeroSigma?.dispose();
        this.#zeroSigma = Tensor.zeros(this.gpu, [batch]);
      }
      s = this.#zeroSigma;
    }
    const feats = g.wrap(timestepEmbedding(s), false); // [B, 256]
    const h = act(
      g,
      linear(
        g,
        feats,
        p.get("backbone.sigma_map.mlp.0.weight"),
        p.get("backbone.sigma_map.mlp.0.bias"),
      ),
      "silu",
    );
    const c = linear(
      g,
      h,
      p.get("backbone.sigma_map.mlp.2.weight"),
      p.get("backbone.sigma_map.mlp.2.bias"),
    );
    return act(g, c, "silu"); // the backbone's extra SiLU
  }

  /** Runs the backbone; returns logits `[B, S′, V]` (S′ = L for bdTrain, else S). */
  forward(g: Graph, input: ForwardInput, mode: ForwardMode): Var {
    const { h, cvec, half } = this.#trunk(g, input, mode, null);
    if (mode.kind === "bdTrain") return this.#head(g, leadingRows(g, h, half), cvec);
    const rows = input.logitsRows;
    return this.#head(g, rows !== undefined && rows < half ? trailingRows(g, h, rows) : h, cvec);
  }

  /**
   * The backbone without the output layer (inference): hidden states `[B, S, d]` and the
   * conditioning vector the output layer's adaLN needs. With `logits`, this lets a caller
   * project a long sequence to the vocabulary in row chunks (`logitsRowsPerChunk`).
   */
  hidden(g: Graph, input: ForwardInput, mode: ForwardMode): { h: Var; cvec: Var | null } {
    if (g.grad) throw new ShapeError("hidden is for inference: build the graph with grad: false");
    const { h, cvec, half } = this.#trunk(g, input, mode, null);
    // bdTrain: only the x_t half produces logits, as in `forward`.
    return { h: mode.kind === "bdTrain" ? leadingRows(g, h, half) : h, cvec };
  }

  /** Final LayerNorm (adaLN) and output layer over hidden states `[B, S, d]`: `[B, S, V]`. */
  logits(g: Graph, h: Var, cvec: Var | null): Var {
    return this.#head(g, h, cvec);
  }

  /**
   * Positions per row chunk whose logits `[B, rows, V]` fit one storage binding (f32): a long
   * sequence times a large vocabulary (1024 × 50258 × 4 bytes = 206 MB) can exceed the
   * adapter's limit (128 MiB on some), and is then projected chunk by chunk.
   */
  logitsRowsPerChunk(batch: number): number {
    const limit = this.gpu.device.limits.maxStorageBufferBindingSize;
    return Math.max(1, Math.floor(limit / (batch * this.config.vocab * 4)));
  }

  /**
   * Prefills empty KV caches with a prompt in one pass (inference only): the prompt `[B, S]`
   * runs through the backbone with the block-causal mask of `blockSize` (AR models: pass
   * `blockSize` 1, the causal mask), every layer's keys and values are appended to its cache
   * and committed as blocks of `blockSize`. This leaves the caches exactly as committing the
   * prompt block by block with `forwardCached` would, at the cost of one pass instead of S/b.
   * Returns the logits of the last `logitsRows` positions `[B, logitsRows, V]` (default 0:
   * none are computed, which skips the vocabulary projection of the whole prompt).
   */
  prefill(
    g: Graph,
    ids: Tensor,
    caches: readonly KvCache[],
    opts: { blockSize: number; sigma?: Tensor | null; logitsRows?: number },
  ): Var | null {
    if (g.grad) throw new ShapeError("prefill is for inference: build the graph with grad: false");
    const [batch, seq] = ids.shape;
    const c = this.config;
    if (caches.length !== c.blocks) {
      throw new ShapeError(`prefill: ${caches.length} caches for ${c.blocks} blocks`);
    }
    for (const cache of caches) {
      if (cache.length !== 0 || cache.batch !== batch || seq > cache.capacity) {
        throw new ShapeError(
          `prefill: needs empty caches of batch ${batch} and capacity ≥ ${seq} (have length ` +
            `${cache.length}, batch ${cache.batch}, capacity ${cache.capacity}); reset them first`,
        );
      }
    }
    const mode: ForwardMode = opts.blockSize === 1
      ? { kind: "causal" }
      : { kind: "blockCausal", blockSize: opts.blockSize };
    const { h, cvec } = this.#trunk(g, { ids, sigma: opts.sigma }, mode, caches);
    for (const cache of caches) cache.commit(opts.blockSize);
    const rows = opts.logitsRows ?? 0;
    if (rows === 0) return null;
    return this.#head(g, rows === seq ? h : trailingRows(g, h, rows), cvec);
  }

  /** Embedding and the N blocks; with `caches`, every layer's K and V are appended to them. */
  #trunk(
    g: Graph,
    input: ForwardInput,
    mode: ForwardMode,
    caches: readonly KvCache[] | null,
  ): { h: Var; cvec: Var | null; half: number } {
    const c = this.config;
    const p = this.params;
    const [batch, seq] = input.ids.shape;
    const half = mode.kind === "bdTrain" ? seq / 2 : seq;
    if (mode.kind === "bdTrain" && seq % 2 !== 0) {
      throw new ShapeError(`bdTrain forward needs ids [B, 2L], got [${input.ids.shape}]`);
    }
    if (half > this.#rotary.positions) {
      throw new ShapeError(
        `sequence of ${half} positions exceeds the model's ${this.#rotary.positions}`,
      );
    }
    const mask = this.#mask(mode, half);
    const cvec = this.conditioning(g, batch, input.sigma);
    const dropout = {
      p: c.dropout,
      seed: input.dropoutSeed ?? 0,
      offset: (input.dropoutOffset ?? 0) * (2 * c.blocks + 1),
    };
    const h = embed(g, input.ids, input.idsHost ?? null, p.get("backbone.vocab_embed.embedding")); // [B, S, d]
    const masked: BlockAttention = {
      // x_t token i and x0 token i share position i (docs/design.md, "Rotary").
      positions: { posPeriod: half },
      attend: (layer, qkv) => {
        caches?.[layer].writeQkv(qkv.value);
        return attend(g, qkv, c.heads, mask);
      },
    };
    return { h: this.#blocks(g, h, cvec, masked, dropout), cvec, half };
  }

  /** The N transformer blocks over hidden states `[B, S, d]`, all with one attention source. */
  #blocks(
    g: Graph,
    h: Var,
    cvec: Var | null,
    attention: BlockAttention,
    dropout: BlockDropout | null,
  ): Var {
    for (let i = 0; i < this.config.blocks; i++) {
      h = ditBlock(g, this.params, i, h, cvec, this.#rotary, attention, dropout);
    }
    return h;
  }

  /** Final LayerNorm with adaLN and the untied output layer: logits `[B, S, V]`. */
  #head(g: Graph, h: Var, cvec: Var | null): Var {
    const p = this.params;
    const fmod = cvec
      ? linear(
        g,
        cvec,
        p.get("backbone.output_layer.adaLN_modulation.weight"),
        p.get("backbone.output_layer.adaLN_modulation.bias"),
      ) // [B, 2d]
      : null;
    const z = norm(
      g,
      h,
      p.get("backbone.output_layer.norm_final.weight"),
      fmod ? { mod: fmod, shift: 0, scale: 1 } : null,
    );
    return linear(
      g,
      z,
      p.get("backbone.output_layer.linear.weight"),
      p.get("backbone.output_layer.linear.bias"),
    ); // [B, S′, V]
  }

  /**
   * One KV cache per layer for cached sampling (docs/design.md, "KV cache and sliding window"),
   * with capacity `window` positions (the reference uses the model length, 1024).
   */
  createCaches(batch: number, window = this.config.length): KvCache[] {
    return Array.from({ length: this.config.blocks }, () =>
      new KvCache(this.gpu, {
        batch,
        capacity: window,
        heads: this.config.heads,
        headDim: this.headDim,
      }));
  }

  /**
   * Cached forward of one block (inference only): the block's tokens `[B, b]` attend to the
   * committed blocks in `caches` plus themselves, at positions p … p+b−1 (p = cache length).
   * With `commit` the block's keys and values are kept (the reference's store_kv call);
   * otherwise the next call overwrites them. Returns logits `[B, b, V]`.
   */
  forwardCached(
    g: Graph,
    ids: Tensor,
    caches: readonly KvCache[],
    opts: { commit?: boolean; sigma?: Tensor | null } = {},
  ): Var {
    if (g.grad) {
      throw new ShapeError("forwardCached is for inference: build the graph with grad: false");
    }
    const c = this.config;
    const p = this.params;
    const [batch, n] = ids.shape;
    if (caches.length !== c.blocks) {
      throw new ShapeError(`forwardCached: ${caches.length} caches for ${c.blocks} blocks`);
    }
    const start = caches[0].length;
    if (start + n > caches[0].capacity) {
      throw new ShapeError(
        `forwardCached: block of ${n} at position ${start} exceeds the cache window ${
          caches[0].capacity
        }`,
      );
    }
    const cvec = this.conditioning(g, batch, opts.sigma);
    const embedded = embed(g, ids, null, p.get("backbone.vocab_embed.embedding"));
    const cached: BlockAttention = {
      // The block's rows continue the cached positions.
      positions: { posOffset: start, posPeriod: Infinity },
      attend: (layer, qkv) => {
        const cache = caches[layer];
        cache.writeQkv(qkv.value);
        return g.wrap(
          attention(cache.attentionArgs(qkvOperands(qkv.value, c.heads).q)).out,
          false,
        );
      },
    };
    const h = this.#blocks(g, embedded, cvec, cached, null);
    if (opts.commit) { for (const cache of caches) cache.commit(); }
    return this.#head(g, h, cvec);
  }

  /**
   * Keeps f16 copies of the Linear weights for inference (needs `shader-f16`; returns false
   * without it). Grad-free products of at most 4 rows (the sampling GEMVs) then read half the
   * bytes, accumulating in f32; logits move by about 1e-3 relative. The copies are taken now:
   * call again after the parameters change, or `useHalfWeights(false)` to drop them.
   */
  async useHalfWeights(on = true): Promise<boolean> {
    const linears = this.params.list.filter((p) =>
      // The f16 row-dot kernel reads K four at a time.
      p.shape.length === 2 && p.name.endsWith(".weight") && !p.name.includes("vocab_embed") &&
      p.shape[1] % 4 === 0
    );
    if (!on || !this.gpu.features.f16) {
      for (const p of linears) setHalfWeight(p, null);
      this.#half = false;
      return false;
    }
    for (const p of linears) {
      setHalfWeight(p, Tensor.from(this.gpu, await p.value.readFloat(), p.shape, "f16"));
    }
    this.#half = true;
    return true;
  }

  /** Whether f16 weight copies are in use (see `useHalfWeights`). */
  get halfWeights(): boolean {
    return this.#half;
  }

  /** Releases the model's own tables (not the parameters). */
  dispose(): void {
    this.#rotary.dispose();
    for (const t of this.#blockTables.values()) t.dispose();
    this.#blockTables.clear();
    this.#zeroSigma?.dispose();
    if (this.#half) {
      for (const p of this.params.list) setHalfWeight(p, null);
      this.#half = false;
    }
  }

  /** Same as {@link Dit.dispose}, for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
