/**
 * SEDD's absorbing-state score entropy (docs/design.md, "Losses"; `_sedd_parameterization` +
 * `_score_entropy`): the per-token loss from raw logits, and its gradient with respect to those
 * logits.
 *
 * Both take σ and dσ per group of consecutive rows: `[rows]` per token, `[B]` per sequence (SEDD
 * uses one t per sequence), or any count dividing the rows. Upstream, σ = total_noise(t) and
 * dσ = expm1(σ)/t (the per-token weight).
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import { rowsOf } from "../softmax/_rows.ts";
import src from "./sedd_loss.wgsl" with { type: "text" };

const WG = 256;

/** The inputs both directions share. */
export interface SeddInputs {
  /** Noisy ids x_t, shaped like the logits without their last axis (i32). */
  xt: Tensor;
  /** Clean ids x0, same shape (i32). */
  x0: Tensor;
  /** Total noise σ > 0 per group of rows (f32, any shape whose size divides the rows). */
  sigma: Tensor;
  /** Noise rate dσ per group of rows, σ's shape (f32). */
  dsigma: Tensor;
  /** The mask (absorbing) id m, a column of the logits. */
  maskId: number;
}

interface Checked {
  gpu: Gpu;
  rows: number;
  n: number;
  perSigma: number;
  uniforms: Uint8Array;
}

function check(logits: Tensor, inp: SeddInputs, what: string): Checked {
  const [rows, n] = rowsOf(logits, what);
  const rowShape = logits.shape.slice(0, -1);
  for (const [name, t] of [["xt", inp.xt], ["x0", inp.x0]] as const) {
    t.expectDtype("i32", `${what} ${name}`);
    t.expectShape(rowShape, `${what} ${name}`);
  }
  inp.sigma.expectDtype("f32", `${what} sigma`);
  inp.dsigma.expectDtype("f32", `${what} dsigma`);
  const groups = inp.sigma.size;
  if (groups === 0 || rows % groups !== 0 || inp.dsigma.size !== groups) {
    throw new ShapeError(
      `${what}: sigma ${formatShape(inp.sigma.shape)} and dsigma ${
        formatShape(inp.dsigma.shape)
      } must have one value per group of rows of logits ${formatShape(logits.shape)}`,
    );
  }
  if (!Number.isInteger(inp.maskId) || inp.maskId < 0 || inp.maskId >= n) {
    throw new ShapeError(`${what}: maskId ${inp.maskId} is not a column of logits (size ${n})`);
  }
  if (n < 2) throw new ShapeError(`${what}: needs ≥ 2 classes (ln(V − 1)), got ${n}`);
  if (logits.size >= 2 ** 32) {
    throw new ShapeError(`${what}: ${logits.size} logits exceed u32 indexing`);
  }
  // ln(V − 1) as an f32 pair hi + lo (see sedd_loss.wgsl).
  const hi = Math.fround(Math.log(n - 1));
  const u = new Uniforms().u32(rows).u32(n).i32(inp.maskId).u32(rows / groups)
    .f32(hi).f32(Math.log(n - 1) - hi).f32(NaN);
  return { gpu: logits.gpu, rows, n, perSigma: rows / groups, uniforms: u.bytes() };
}

/** Options of {@linkcode seddLoss}. */
export interface SeddLossOptions {
  /** Output for the per-token losses, shaped like xt (f32). */
  out?: Tensor;
}

/**
 * Per-token score entropy `ℓ_r = dσ·(Σ_{v≠m} exp(log_score_v) − q·log_score[x0] + q(ln q − 1))`
 * at masked positions (x_t = m), 0 elsewhere, with `log_score = l − ln expm1(σ) − ln(V − 1)`,
 * `log_score[x_t] = 0` and `q = 1/expm1(σ)`. Computed in a form without cancellation (see
 * sedd_loss.wgsl), so it stays accurate for small losses and for σ from ~1e-4 to large.
 * An x0 outside [0, V) at a masked position gives NaN.
 * @param logits raw network outputs [..., V] (f32)
 */
export function seddLoss(logits: Tensor, inputs: SeddInputs, opts: SeddLossOptions = {}): Tensor {
  const what = "seddLoss";
  const { gpu, rows, uniforms } = check(logits, inputs, what);
  const rowShape = logits.shape.slice(0, -1);
  const out = opts.out ?? Tensor.empty(gpu, rowShape);
  out.expectDtype("f32", `${what} out`);
  out.expectShape(rowShape, `${what} out`);
  const kernel = gpu.kernel({
    name: "sedd_loss",
    code: src,
    params: { WG },
    bindings: ["uniform", "read", "read", "read", "read", "write", "read"],
    entry: "forward",
  });
  const { xt, x0, sigma, dsigma } = inputs;
  gpu.dispatch(kernel, [xt, x0, sigma, dsigma, out, logits], uniforms, grid1d(rows, 1));
  return out;
}

/** Options of {@linkcode seddLossBackward}. */
export interface SeddLossBackwardOptions {
  /** Output with the logits' shape (f32). It may be the logits themselves (overwritten). */
  out?: Tensor;
}

/**
 * Gradient of `Σ_r w_r·ℓ_r` ({@linkcode seddLoss}) with respect to the raw logits:
 * `w_r·dσ·q·(exp(l_v − ln(V − 1)) − [v = x0])` for v ≠ m at masked positions, 0 in column m
 * and at unmasked positions, NaN rows for an x0 outside [0, V). Elementwise (no reduction).
 * @param logits raw network outputs [..., V] (f32)
 * @param weight upstream gradients dL/dℓ_r, shaped like xt (f32)
 */
export function seddLossBackward(
  logits: Tensor,
  inputs: SeddInputs,
  weight: Tensor,
  opts: SeddLossBackwardOptions = {},
): Tensor {
  const what = "seddLossBackward";
  const { gpu, uniforms } = check(logits, inputs, what);
  weight.expectDtype("f32", `${what} weight`);
  weight.expectShape(logits.shape.slice(0, -1), `${what} weight`);
  const out = opts.out ?? Tensor.empty(gpu, logits.shape);
  out.expectDtype("f32", `${what} out`);
  if (out.size !== logits.size) {
    throw new ShapeError(
      `${what}: out ${formatShape(out.shape)} does not match logits ${formatShape(logits.shape)}`,
    );
  }
  const inPlace = out.buffer === logits.buffer && out.offset === logits.offset;
  if (!inPlace && out.buffer === logits.buffer) {
    throw new ShapeError(
      `${what}: out may be the logits themselves but must not overlap part of them`,
    );
  }
  const kernel = gpu.kernel({
    name: "sedd_loss",
    code: src,
    params: { WG },
    bindings: inPlace
      ? ["uniform", "read", "read", "read", "read", "read", "write"]
      : ["uniform", "read", "read", "read", "read", "read", "read", "write"],
    entry: inPlace ? "backward_inplace" : "backward",
  });
  const { xt, x0, sigma, dsigma } = inputs;
  const resources = inPlace
    ? [xt, x0, sigma, dsigma, weight, logits]
    : [xt, x0, sigma, dsigma, weight, logits, out];
  gpu.dispatch(kernel, resources, uniforms, grid1d(logits.size, WG));
  return out;
}
