/**
 * One fused AdamW step over a flat parameter tensor (docs/design.md, "Training": AdamW, betas (0.9,
 * 0.999), eps 1e-8, weight decay 0, global-norm clipping), with PyTorch's `torch.optim.AdamW`
 * semantics: decoupled weight decay `p ← p·(1 − lr·wd)`, then
 * `p ← p − lr/bc1 · m / (√v/√bc2 + eps)` with `bc_k = 1 − β_k^step`.
 *
 * The gradient is scaled by a clip factor read from a GPU buffer (element 1 of
 * `gradNorm`'s `[norm, clip]` result), so clipping needs no readback and a whole
 * training step stays one submission.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, type Tensor, Uniforms } from "@blockdiff/core";
import src from "./adamw.wgsl" with { type: "text" };

const WG = 256;

/** Hyper-parameters of one {@linkcode adamw} step. */
export interface AdamWOptions {
  /** Learning rate of this step (after any warm-up or decay schedule). */
  lr: number;
  /** The step number, counting from 1 (bias corrections use β^step). */
  step: number;
  /** β1, 0.9 by default. */
  beta1?: number;
  /** β2, 0.999 by default. */
  beta2?: number;
  /** eps, 1e-8 by default. */
  eps?: number;
  /** Decoupled weight decay; 0 by default (the reference's, not PyTorch's 0.01). */
  weightDecay?: number;
  /**
   * A 2-element f32 tensor `[norm, clip]`; the gradient is multiplied by `clip` (element 1).
   * Omitted: no clipping.
   */
  clip?: Tensor;
}

/**
 * Updates `param`, `m` and `v` in place by one AdamW step on `grad` (optionally scaled by the
 * clip factor). All four are f32 tensors of the same size (any shapes); param must not share a
 * buffer with the others.
 * @param param parameters, updated in place
 * @param grad their gradient (read only)
 * @param m first moment (exp_avg), updated in place; zeros before step 1
 * @param v second moment (exp_avg_sq), updated in place; zeros before step 1
 */
export function adamw(param: Tensor, grad: Tensor, m: Tensor, v: Tensor, opts: AdamWOptions): void {
  const gpu: Gpu = param.gpu;
  const what = "adamw";
  for (const [name, t] of [["param", param], ["grad", grad], ["m", m], ["v", v]] as const) {
    t.expectDtype("f32", `${what} ${name}`);
    if (t.size !== param.size) {
      throw new ShapeError(
        `${what}: ${name} ${formatShape(t.shape)} does not match param ${formatShape(param.shape)}`,
      );
    }
  }
  const buffers = [param, grad, m, v].map((t) => t.buffer);
  if (new Set(buffers).size !== 4) {
    throw new ShapeError(`${what}: param, grad, m and v must be four distinct buffers`);
  }
  const { lr, step } = opts;
  const beta1 = opts.beta1 ?? 0.9;
  const beta2 = opts.beta2 ?? 0.999;
  const eps = opts.eps ?? 1e-8;
  const wd = opts.weightDecay ?? 0;
  if (!(Number.isFinite(lr) && lr >= 0)) throw new RangeError(`${what}: lr must be ≥ 0, got ${lr}`);
  if (!(Number.isInteger(step) && step >= 1)) {
    throw new RangeError(`${what}: step must be an integer ≥ 1, got ${step}`);
  }
  for (const [name, b] of [["beta1", beta1], ["beta2", beta2]] as const) {
    if (!(b >= 0 && b < 1)) throw new RangeError(`${what}: ${name} must be in [0, 1), got ${b}`);
  }
  if (!(eps >= 0) || !(wd >= 0)) {
    throw new RangeError(`${what}: eps and weightDecay must be ≥ 0, got ${eps} and ${wd}`);
  }
  if (opts.clip) {
    opts.clip.expectDtype("f32", `${what} clip`);
    opts.clip.expectShape([2], `${what} clip`);
  }
  // Per-step scalars in float64, as PyTorch computes them in Python before the tensor ops.
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  const u = new Uniforms().u32(param.size).f32(1 - lr * wd).f32(1 - beta1).f32(beta2)
    .f32(1 - beta2).f32(lr / bc1).f32(Math.sqrt(bc2)).f32(eps);
  const kernel = gpu.kernel({
    name: "adamw",
    code: src,
    params: { WG },
    bindings: opts.clip
      ? ["uniform", "read", "write", "write", "write", "read"]
      : ["uniform", "read", "write", "write", "write"],
    entry: opts.clip ? "main" : "noclip",
  });
  const resources = opts.clip ? [grad, param, m, v, opts.clip] : [grad, param, m, v];
  gpu.dispatch(kernel, resources, u.bytes(), grid1d(param.size, WG));
}
