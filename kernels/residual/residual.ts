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
 * @param out optional output tensor of x's shape (may alias x)
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
  const kernel = gpu.kernel({
    name: "residual",
    code: src,
    params: { WG, HAS_GATE: Boolean(gate) },
    bindings: ["read", "read", "read", "write", "uniform"],
  });
  const u = new Uniforms().u32(x.size).u32(x.size / (batch * width)).u32(width).u32(0);
  gpu.dispatch(kernel, [x, y, gate ?? y, result], u.bytes(), grid1d(x.size, WG));
  return result;
}
