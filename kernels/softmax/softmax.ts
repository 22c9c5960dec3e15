/**
 * Softmax over the last axis, one workgroup per row, numerically stable (max subtraction) and
 * safe for −inf logits. Used by the samplers on logits of up to ~50k columns.
 * @module
 */
import type { Tensor } from "@blockdiff/core";
import { launchRowOp } from "./_rows.ts";
import src from "./softmax.wgsl" with { type: "text" };

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
  return launchRowOp(x, opts, "softmax", "softmax", src);
}
