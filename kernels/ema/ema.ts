/**
 * The EMA of the parameters (docs/design.md, "Training": decay 0.9999 with warm-up, updated after
 * every optimizer step; the EMA weights are used for validation, sampling and the released
 * checkpoints).
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, type Tensor, Uniforms } from "@blockdiff/core";
import src from "./ema.wgsl" with { type: "text" };

const WG = 256;

/**
 * The reference's warmed-up decay for the n-th update (n counted from 1, incremented before
 * use): `min(decay, (1 + n) / (10 + n))`.
 */
export function emaDecay(n: number, decay = 0.9999): number {
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new RangeError(`emaDecay: n must be an integer ≥ 1, got ${n}`);
  }
  return Math.min(decay, (1 + n) / (10 + n));
}

/**
 * Updates `ema ← decay·ema + (1 − decay)·param` in place (as `ema − (1 − decay)(ema − param)`,
 * the reference's form). Both f32 with the same size, distinct buffers.
 * @param ema the shadow parameters, updated in place
 * @param param the current parameters
 * @param decay in [0, 1]; 1 − decay is formed in float64 and rounded once
 */
export function emaUpdate(ema: Tensor, param: Tensor, decay: number): void {
  const gpu: Gpu = ema.gpu;
  ema.expectDtype("f32", "emaUpdate ema");
  param.expectDtype("f32", "emaUpdate param");
  if (ema.size !== param.size) {
    throw new ShapeError(
      `emaUpdate: ema ${formatShape(ema.shape)} does not match param ${formatShape(param.shape)}`,
    );
  }
  if (ema.buffer === param.buffer) {
    throw new ShapeError("emaUpdate: ema and param must be distinct buffers");
  }
  if (!(decay >= 0 && decay <= 1)) {
    throw new RangeError(`emaUpdate: decay must be in [0, 1], got ${decay}`);
  }
  const kernel = gpu.kernel({
    name: "ema",
    code: src,
    params: { WG },
    bindings: ["uniform", "read", "write"],
  });
  const u = new Uniforms().u32(ema.size).f32(1 - decay);
  gpu.dispatch(kernel, [param, ema], u.bytes(), grid1d(ema.size, WG));
}
