/**
 * Backward of `logSoftmaxGather`'s per-token cross-entropy: the gradient of
 * `Σ_r w_r · loss_r` with respect to the logits, from the forward's saved logsumexps. This is
 * the backward of the BD3-LM/MDLM `subs` loss (docs/design.md, "Losses": targets x0 at masked
 * positions, ignored elsewhere, w_r = (1/t_r)/N) and of the AR loss.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import { maskColumn, rowsOf } from "../softmax/_rows.ts";
import src from "./log_softmax_backward.wgsl" with { type: "text" };

const WG = 256;

/** Options of {@linkcode logSoftmaxGatherBackward}. */
export interface LogSoftmaxGatherBackwardOptions {
  /** The column the forward left out (its gradient is 0); must match the forward's. */
  maskId?: number;
  /** Output with x's shape (f32). It may be x itself: the logits are then overwritten. */
  out?: Tensor;
}

/**
 * Returns `dx[r, v] = w_r · (softmax(x_r)[v] − [v = t_r])` with `softmax = exp(x − lse)`: the
 * gradient of `Σ_r w_r · (lse_r − x[r, t_r])`. The masked column gets 0, rows with a negative
 * target (ignored) get 0, a target ≥ n gives a NaN row. Elementwise: no row reduction, since the
 * forward saved lse.
 * @param x logits [..., n] (f32), as given to `logSoftmaxGather`
 * @param target class ids shaped like x without its last axis (i32)
 * @param lse the forward's row logsumexps, shaped like target (f32)
 * @param weight upstream gradients dL/dloss_r, shaped like target (f32)
 */
export function logSoftmaxGatherBackward(
  x: Tensor,
  target: Tensor,
  lse: Tensor,
  weight: Tensor,
  opts: LogSoftmaxGatherBackwardOptions = {},
): Tensor {
  const gpu: Gpu = x.gpu;
  const what = "logSoftmaxGatherBackward";
  const [, n] = rowsOf(x, what);
  const mask = maskColumn(opts.maskId, n, what);
  const rowShape = x.shape.slice(0, -1);
  target.expectDtype("i32", `${what} target`);
  target.expectShape(rowShape, `${what} target`);
  for (const [name, t] of [["lse", lse], ["weight", weight]] as const) {
    t.expectDtype("f32", `${what} ${name}`);
    t.expectShape(rowShape, `${what} ${name}`);
  }
  const out = opts.out ?? Tensor.empty(gpu, x.shape);
  out.expectDtype("f32", `${what} out`);
  if (out.size !== x.size) {
    throw new ShapeError(
      `${what}: out ${formatShape(out.shape)} does not match x ${formatShape(x.shape)}`,
    );
  }
  const inPlace = out.buffer === x.buffer && out.offset === x.offset;
  if (!inPlace && out.buffer === x.buffer) {
    throw new ShapeError(`${what}: out may be x itself but must not overlap part of it`);
  }
  const kernel = gpu.kernel({
    name: "log_softmax_backward",
    code: src,
    params: { WG },
    bindings: inPlace
      ? ["write", "read", "read", "read", "uniform"]
      : ["read", "read", "read", "read", "uniform", "write"],
    entry: inPlace ? "main_inplace" : "main",
  });
  const u = new Uniforms().u32(x.size).u32(n).i32(mask).f32(NaN);
  const resources = inPlace ? [x, target, lse, weight] : [x, target, lse, weight, out];
  gpu.dispatch(kernel, resources, u.bytes(), grid1d(x.size, WG));
  return out;
}
