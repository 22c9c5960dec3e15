/**
 * Residual connection of a DiT block: `x + y`, or `x + gate ⊙ y` with the adaLN gate
 * broadcast over the sequence (spec 1.7 steps 9 and 12: the gate is used as is, not 1 + gate).
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import src from "./residual.wgsl" with { type: "text" };

const WG = 256;

/**
 * Returns `x + y` (gate omitted) or `x + gate[b] ⊙ y[b, s]`.
 * @param x residual stream [B, S, d] (or any shape when there is no gate)
 * @param y branch output, same shape as x
 * @param gate optional [B, d]
 * @param out optional output of x's shape; passing x itself updates the stream in place
 */
export function residual(x: Tensor, y: Tensor, gate?: Tensor | null, out?: Tensor): Tensor {
  const gpu: Gpu = x.gpu;
  x.expectDtype("f32", "residual x");
  if (y.size !== x.size) {
    throw new ShapeError(`residual: x ${formatShape(x.shape)} and y ${formatShape(y.shape)} differ`);
  }
  const width = x.shape[x.shape.length - 1];
  const batch = gate ? gate.shape[0] : 1;
  if (gate) {
    gate.expectShape([batch, width], "residual gate");
    if (x.size % (batch * width) !== 0) {
      throw new ShapeError(`residual: gate ${formatShape(gate.shape)} does not fit x ${formatShape(x.shape)}`);
    }
  }
  const result = out ?? Tensor.empty(gpu, x.shape);
  const inPlace = result.buffer === x.buffer && result.offset === x.offset;
  if (!inPlace && (result.buffer === x.buffer || result.buffer === y.buffer)) {
    throw new ShapeError("residual: out may be x itself (in place) but must not overlap y or part of x");
  }
  const kernel = gpu.kernel({
    name: "residual",
    code: src,
    params: { WG, HAS_GATE: Boolean(gate) },
    bindings: inPlace
      ? ["write", "read", "read", "uniform"]
      : ["read", "read", "read", "uniform", "write"],
    entry: inPlace ? "main_inplace" : "main",
  });
  const u = new Uniforms().u32(x.size).u32(x.size / (batch * width)).u32(width).u32(0);
  const resources = inPlace ? [x, y, gate ?? y] : [x, y, gate ?? y, result];
  gpu.dispatch(kernel, resources, u.bytes(), grid1d(x.size, WG));
  return result;
}
