/**
 * Softmax over the last axis, one workgroup per row, numerically stable (max subtraction) and
 * safe for −inf logits. Used by the samplers on logits of up to ~50k columns.
 * @module
 */
import { type Gpu, grid1d, type Tensor, Uniforms } from "@blockdiff/core";
import { rowOpSetup } from "./_rows.ts";
import rowStats from "./row_stats.wgsl" with { type: "text" };
import src from "./softmax.wgsl" with { type: "text" };

/** Lanes per row: a power of two (the tree reduction halves it). */
const WG = 256;

/** Options of {@linkcode softmax}. */
export interface SoftmaxOptions {
  /** Divides the logits before normalising (T > 0; 1 by default). */
  temperature?: number;
  /**
   * A column that counts as −inf (probability exactly 0), e.g. the mask token in the `subs`
   * parameterization (docs/design.md, "Losses"). Negative or omitted: no column is excluded.
   */
  maskId?: number;
  /** Output tensor with x's shape (f32), not sharing x's buffer. */
  out?: Tensor;
}

/**
 * Returns `softmax(x / T)` over the last axis. Logits may be −inf (probability 0); a row
 * with no finite logit gives all zeros. Logits of +inf or NaN give NaN, as in PyTorch.
 * @param x logits [..., n] (f32)
 */
export function softmax(x: Tensor, opts: SoftmaxOptions = {}): Tensor {
  const gpu: Gpu = x.gpu;
  const { rows, n, mask, scale, out } = rowOpSetup(x, opts, "softmax");
  const kernel = gpu.kernel({
    name: "softmax",
    code: src + rowStats,
    params: { WG },
    bindings: ["read", "write", "uniform"],
  });
  const u = new Uniforms().u32(rows).u32(n).i32(mask).f32(scale).f32(-Infinity);
  gpu.dispatch(kernel, [x, out], u.bytes(), grid1d(rows, 1));
  return out;
}
