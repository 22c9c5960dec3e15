/**
 * One DiT transformer block (docs/design.md, "The model and its masks"): LN1+adaLN → qkv →
 * rotary → attention → out-proj → gated residual → LN2+adaLN → MLP(GELU-tanh) → gated residual.
 * The uncached, prefill and KV-cached passes of `Dit` all run this; they differ only in the
 * {@link BlockAttention} they pass: where the rows sit for the rotary embedding, and how
 * attention finds its keys and values (a mask over the rows themselves, or a KV cache) and what
 * it writes to a cache.
 * @module
 */
import type { Graph, Var } from "@blockdiff/core";
import type { RotaryOptions, RotaryTable } from "@blockdiff/kernels";
import type { ParamSet } from "./params.ts";
import { addGated, drop, linear, linearGelu, norm, rope } from "./ops.ts";

/** How a block's attention gets its keys and values. */
export interface BlockAttention {
  /** The rotary positions of the rows. */
  readonly positions: RotaryOptions;
  /**
   * Attention of layer `layer` over its rotated projection `qkv` `[B, S, 3d]` → `[B, S, d]`;
   * this is also where the layer's keys and values are written to a cache, if there is one.
   */
  attend(layer: number, qkv: Var): Var;
}

/** The dropout stream of a forward pass (training); the block takes two offsets per layer. */
export interface BlockDropout {
  p: number;
  seed: number;
  /** The stream offset of layer 0's first dropout. */
  offset: number;
}

/**
 * Runs block `layer` on the hidden states `h` `[B, S, d]` and returns the new ones. `cvec` is
 * the adaLN conditioning vector (null without adaLN); `dropout` null skips the dropout ops
 * altogether (the cached inference pass).
 */
export function ditBlock(
  g: Graph,
  p: ParamSet,
  layer: number,
  h: Var,
  cvec: Var | null,
  rotary: RotaryTable,
  attention: BlockAttention,
  dropout: BlockDropout | null,
): Var {
  const pre = `backbone.blocks.${layer}.`;
  const dropped = (x: Var, stream: number): Var =>
    dropout ? drop(g, x, dropout.p, dropout.seed, dropout.offset + 2 * layer + stream) : x;
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
  const qkv = rope(
    g,
    linear(g, a, p.get(pre + "attn_qkv.weight"), null),
    rotary,
    attention.positions,
  ); // [B, S, 3d]
  const o = attention.attend(layer, qkv); // [B, S, d]
  const r = dropped(linear(g, o, p.get(pre + "attn_out.weight"), null), 0);
  h = addGated(g, h, r, mod ? { mod, chunk: 2 } : null);
  // MLP branch.
  const u = norm(g, h, p.get(pre + "norm2.weight"), mod ? { mod, shift: 3, scale: 4 } : null);
  const m1 = linearGelu(g, u, p.get(pre + "mlp.0.weight"), p.get(pre + "mlp.0.bias")); // [B, S, 4d]
  const m2 = dropped(linear(g, m1, p.get(pre + "mlp.2.weight"), p.get(pre + "mlp.2.bias")), 1);
  return addGated(g, h, m2, mod ? { mod, chunk: 5 } : null);
}
