/**
 * The DiT backbone of the reference (spec sections 1 and 2), read top to bottom:
 * embedding → (σ embedder → cvec) → N blocks [LN1+adaLN → qkv → rotary → masked attention →
 * out-proj → gated residual → LN2+adaLN → MLP(GELU-tanh) → gated residual] → final LN+adaLN →
 * untied output layer. Shapes in comments: B batch, S sequence, d hidden, V vocabulary.
 * @module
 */
import type { Gpu } from "../gpu/runtime.ts";
import { Tensor } from "../tensor.ts";
import type { Graph, Var } from "../autograd/graph.ts";
import type { ModelConfig } from "../io/model_config.ts";
import { ShapeError } from "../gpu/errors.ts";
import type { ParamSet } from "./params.ts";
import {
  act,
  addGated,
  attend,
  drop,
  embed,
  leadingRows,
  linear,
  linearGelu,
  norm,
  rope,
} from "./ops.ts";
import {
  attention,
  type AttentionMask,
  BlockTable,
  KvCache,
  qkvOperands,
  RotaryTable,
  timestepEmbedding,
} from "@blockdiff/kernels";

/** Which attention pattern a forward pass uses (spec 2.1–2.4). */
export type ForwardMode =
  /** BD3-LM training/likelihood: ids are `[x_t ; x0]` (S = 2L); returns logits of the x_t half. */
  | { kind: "bdTrain"; blockStarts?: readonly number[] }
  /** MDLM / SEDD: bidirectional over S ≤ L. */
  | { kind: "full" }
  /** AR: causal over S. */
  | { kind: "causal" }
  /** Block-causal over the sampling window (no KV cache, spec 2.2). */
  | { kind: "blockCausal"; blockSize: number; blockStarts?: readonly number[] };

/** Inputs of a forward pass. */
export interface ForwardInput {
  /** Token ids, i32 `[B, S]`. */
  ids: Tensor;
  /** The same ids on the host: needed for training (the embedding's backward). */
  idsHost?: Int32Array | null;
  /** Per-sequence σ `[B]` for time-conditioned models (SEDD); zeros are used otherwise. */
  sigma?: Tensor | null;
  /** Dropout stream: seed and a per-step offset (training only). */
  dropoutSeed?: number;
  dropoutOffset?: number;
}

/** The backbone bound to its parameters. */
export class Dit implements Disposable {
  readonly gpu: Gpu;
  readonly config: ModelConfig;
  readonly params: ParamSet;
  readonly headDim: number;
  readonly #rotary: RotaryTable;
  readonly #blockTables = new Map<string, BlockTable>();
  #zeroSigma: Tensor | null = null;

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

  /** cvec = SiLU(MLP(timestep features of σ)) `[B, c]` (spec 1.3), or null without adaLN. */
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
    const seed = input.dropoutSeed ?? 0;
    const offset = (input.dropoutOffset ?? 0) * (2 * c.blocks + 1);
    let h = embed(g, input.ids, input.idsHost ?? null, p.get("backbone.vocab_embed.embedding")); // [B, S, d]
    for (let i = 0; i < c.blocks; i++) {
      const pre = `backbone.blocks.${i}.`;
      const mod = cvec
        ? linear(
          g,
          cvec,
          p.get(pre + "adaLN_modulation.weight"),
          p.get(pre + "adaLN_modulation.bias"),
        ) // [B, 6d]
        : null;
      // Attention branch.
      const a = norm(g, h, p.get(pre + "norm1.weight"), mod ? { mod, shift: 0, scale: 1 } : null);
      const qkv = rope(g, linear(g, a, p.get(pre + "attn_qkv.weight"), null), this.#rotary, {
        posPeriod: half, // x_t token i and x0 token i share position i (spec 2.1)
      }); // [B, S, 3d]
      const o = attend(g, qkv, c.heads, mask); // [B, S, d]
      const r = drop(
        g,
        linear(g, o, p.get(pre + "attn_out.weight"), null),
        c.dropout,
        seed,
        offset + 2 * i,
      );
      h = addGated(g, h, r, mod ? { mod, chunk: 2 } : null);
      // MLP branch.
      const u = norm(g, h, p.get(pre + "norm2.weight"), mod ? { mod, shift: 3, scale: 4 } : null);
      const m1 = linearGelu(g, u, p.get(pre + "mlp.0.weight"), p.get(pre + "mlp.0.bias")); // [B, S, 4d]
      const m2 = drop(
        g,
        linear(g, m1, p.get(pre + "mlp.2.weight"), p.get(pre + "mlp.2.bias")),
        c.dropout,
        seed,
        offset + 2 * i + 1,
      );
      h = addGated(g, h, m2, mod ? { mod, chunk: 5 } : null);
    }
    if (mode.kind === "bdTrain") h = leadingRows(g, h, half); // only x_t rows produce logits
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
   * One KV cache per layer for cached sampling (spec 2.3), with capacity `window` positions
   * (the reference uses the model length, 1024).
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
    let h = embed(g, ids, null, p.get("backbone.vocab_embed.embedding"));
    for (let i = 0; i < c.blocks; i++) {
      const pre = `backbone.blocks.${i}.`;
      const mod = cvec
        ? linear(
          g,
          cvec,
          p.get(pre + "adaLN_modulation.weight"),
          p.get(pre + "adaLN_modulation.bias"),
        )
        : null;
      const a = norm(g, h, p.get(pre + "norm1.weight"), mod ? { mod, shift: 0, scale: 1 } : null);
      const qkv = rope(g, linear(g, a, p.get(pre + "attn_qkv.weight"), null), this.#rotary, {
        posOffset: start,
        posPeriod: Infinity,
      });
      const cache = caches[i];
      cache.writeQkv(qkv.value);
      const o = g.wrap(
        attention(cache.attentionArgs(qkvOperands(qkv.value, c.heads).q)).out,
        false,
      );
      const r = linear(g, o, p.get(pre + "attn_out.weight"), null);
      h = addGated(g, h, r, mod ? { mod, chunk: 2 } : null);
      const u = norm(g, h, p.get(pre + "norm2.weight"), mod ? { mod, shift: 3, scale: 4 } : null);
      const m1 = linearGelu(g, u, p.get(pre + "mlp.0.weight"), p.get(pre + "mlp.0.bias"));
      const m2 = linear(g, m1, p.get(pre + "mlp.2.weight"), p.get(pre + "mlp.2.bias"));
      h = addGated(g, h, m2, mod ? { mod, chunk: 5 } : null);
    }
    if (opts.commit) { for (const cache of caches) cache.commit(); }
    const fmod = cvec
      ? linear(
        g,
        cvec,
        p.get("backbone.output_layer.adaLN_modulation.weight"),
        p.get("backbone.output_layer.adaLN_modulation.bias"),
      )
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
    );
  }

  /** Releases the model's own tables (not the parameters). */
  dispose(): void {
    this.#rotary.dispose();
    for (const t of this.#blockTables.values()) t.dispose();
    this.#blockTables.clear();
    this.#zeroSigma?.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
