/**
 * Log-softmax over the last axis, and the fused log-softmax + gather that gives per-token
 * cross-entropy losses and each row's logsumexp without materialising the [rows, V] table
 * (docs/design.md, "Losses"). Both take a `maskId` column that counts as −inf, which is how the
 * `subs` parameterization removes the mask token from the categorical.
 * @module
 */
import { type Gpu, grid1d, Tensor, Uniforms } from "@blockdiff/core";
import { launchRowOp, maskColumn, ROW_STATS_WGSL, ROW_WG, rowsOf } from "../softmax/_rows.ts";
import src from "./log_softmax.wgsl" with { type: "text" };
import gatherSrc from "./log_softmax_gather.wgsl" with { type: "text" };

/** Options of {@linkcode logSoftmax}. */
export interface LogSoftmaxOptions {
  /** Divides the logits before normalising (T > 0; 1 by default). */
  temperature?: number;
  /**
   * A column that counts as −inf: it is left out of the logsumexp and its output is −inf
   * (log 0). Negative or omitted: no column is excluded.
   */
  maskId?: number;
  /** Output tensor with x's shape (f32), not sharing x's buffer. */
  out?: Tensor;
}

/**
 * Returns `log_softmax(x / T)` over the last axis: `v − logsumexp(v)`. −inf logits (and the
 * masked column) give −inf; a row with no finite logit gives −inf everywhere.
 * @param x logits [..., n] (f32)
 */
export function logSoftmax(x: Tensor, opts: LogSoftmaxOptions = {}): Tensor {
  return launchRowOp(x, opts, "logSoftmax", "log_softmax", src);
}

/** Options of {@linkcode logSoftmaxGather}. */
export interface LogSoftmaxGatherOptions {
  /** A column left out of the logsumexp (see {@linkcode LogSoftmaxOptions.maskId}). */
  maskId?: number;
  /** Output for the losses, shaped like `target` (f32). */
  loss?: Tensor;
  /** Output for the row logsumexps, shaped like `target` (f32). */
  lse?: Tensor;
}

/** What {@linkcode logSoftmaxGather} returns: two tensors shaped like the targets. */
export interface LogSoftmaxGatherResult {
  /** `−log softmax(x_r)[t_r]`, 0 where the target is negative (ignored). */
  loss: Tensor;
  /** `logsumexp(x_r)` over the non-masked columns (what the backward needs). */
  lse: Tensor;
}

/**
 * Per-row cross-entropy: `loss[r] = logsumexp(x_r) − x[r, t_r]` and `lse[r] = logsumexp(x_r)`,
 * in one pass over each row. Rows with a negative target (ignore index) get loss 0; a target
 * equal to `maskId` gets +inf (probability 0); a target ≥ n gets NaN rather than a silently
 * clamped read.
 * @param x logits [..., n] (f32)
 * @param target class ids shaped like x without its last axis (i32)
 */
export function logSoftmaxGather(
  x: Tensor,
  target: Tensor,
  opts: LogSoftmaxGatherOptions = {},
): LogSoftmaxGatherResult {
  const gpu: Gpu = x.gpu;
  const [rows, n] = rowsOf(x, "logSoftmaxGather");
  const mask = maskColumn(opts.maskId, n, "logSoftmaxGather");
  target.expectDtype("i32", "logSoftmaxGather target");
  const rowShape = x.shape.slice(0, -1);
  target.expectShape(rowShape, "logSoftmaxGather target");
  for (const [name, t] of [["loss", opts.loss], ["lse", opts.lse]] as const) {
    if (!t) continue;
    t.expectDtype("f32", `logSoftmaxGather ${name}`);
    t.expectShape(rowShape, `logSoftmaxGather ${name}`);
  }
  const loss = opts.loss ?? Tensor.empty(gpu, rowShape);
  const lse = opts.lse ?? Tensor.empty(gpu, rowShape);
  const kernel = gpu.kernel({
    name: "log_softmax_gather",
    code: gatherSrc + ROW_STATS_WGSL,
    params: { WG: ROW_WG },
    bindings: ["read", "read", "write", "write", "uniform"],
  });
  const u = new Uniforms().u32(rows).u32(n).i32(mask).f32(1).f32(-Infinity).f32(NaN);
  gpu.dispatch(kernel, [x, target, loss, lse], u.bytes(), grid1d(rows, 1));
  return { loss, lse };
}
