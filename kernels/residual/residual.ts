/**
 * Residual connection of a DiT block: `x + y`, or `x + gate ⊙ y` with the adaLN gate
 * broadcast over the sequence (docs/design.md, "adaLN conditioning": the gate is used as is, not 1
 * + gate). The gate is a `[B, d]` tensor or, as the block uses it, a chunk of the `[B, 6d]` adaLN
 * modulation (`{ tensor: mod, chunk: 2 }` for gate_msa, 5 for gate_mlp).
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import { type ModChunk, resolveChunk } from "../modulate/modulate.ts";
import src from "./residual.wgsl" with { type: "text" };

const WG = 256;

/**
 * Returns `x + y` (gate omitted) or `x + gate[b] ⊙ y[b, s]`.
 * @param x residual stream [B, S, d] (or any shape when there is no gate)
 * @param y branch output, same shape as x
 * @param gate optional `[B, d]` tensor, or a d-wide chunk of a `[B, n·d]` modulation tensor
 * @param out optional output of x's shape; passing x itself updates the stream in place
 */
export function residual(
  x: Tensor,
  y: Tensor,
  gate?: Tensor | ModChunk | null,
  out?: Tensor,
): Tensor {
  const gpu: Gpu = x.gpu;
  x.expectDtype("f32", "residual x");
  if (y.size !== x.size) {
    throw new ShapeError(
      `residual: x ${formatShape(x.shape)} and y ${formatShape(y.shape)} differ`,
    );
  }
  const width = x.shape[x.shape.length - 1];
  if (gate instanceof Tensor) gate.expectShape([gate.shape[0], width], "residual gate");
  const chunk = gate instanceof Tensor ? { tensor: gate, chunk: 0 } : gate ?? null;
  const g = chunk ? resolveChunk(chunk, width, "residual gate") : null;
  const batch = g?.batch ?? 1;
  if (g && x.size % (batch * width) !== 0) {
    throw new ShapeError(
      `residual: gate ${formatShape(chunk!.tensor.shape)} does not fit x ${formatShape(x.shape)}`,
    );
  }
  const result = out ?? Tensor.empty(gpu, x.shape);
  const inPlace = result.buffer === x.buffer && result.offset === x.offset;
  if (!inPlace && (result.buffer === x.buffer || result.buffer === y.buffer)) {
    throw new ShapeError(
      "residual: out may be x itself (in place) but must not overlap y or part of x",
    );
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
  const u = new Uniforms().u32(x.size).u32(x.size / (batch * width)).u32(width)
    .u32(g?.stride ?? 0).u32(g?.offset ?? 0);
  const gt = chunk?.tensor ?? y;
  const resources = inPlace ? [x, y, gt] : [x, y, gt, result];
  gpu.dispatch(kernel, resources, u.bytes(), grid1d(x.size, WG));
  return result;
}
