/**
 * Elementwise activations of the DiT: GELU with the tanh approximation (the MLP,
 * see docs/design.md, "Backbone") and SiLU (the timestep embedder and `cvec`), plus `biasGelu` for
 * an MLP whose matmul does not fuse the bias. Every launcher works in place when `out` is `x`.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import { overlaps, sameStorage } from "../modulate/modulate.ts";
import src from "./activation.wgsl" with { type: "text" };

const WG = 256;

/** The activations this kernel implements. */
export type Activation = "gelu" | "silu";

const OPS: Record<Activation, number> = { gelu: 0, silu: 1 };

/**
 * Returns `act(x + bias)` elementwise, with `bias` (optional) broadcast over the last axis.
 * @param x f32 input of any shape
 * @param op `gelu` (tanh approximation) or `silu`
 * @param bias optional f32 `[d]`, d = last axis of x
 * @param out optional output of x's size; pass `x` itself to work in place
 */
export function activation(
  x: Tensor,
  op: Activation,
  bias?: Tensor | null,
  out?: Tensor,
): Tensor {
  const gpu: Gpu = x.gpu;
  x.expectDtype("f32", `${op} x`);
  const width = x.shape[x.shape.length - 1] ?? 1;
  if (bias) {
    bias.expectDtype("f32", `${op} bias`);
    if (bias.shape.length !== 1 || bias.shape[0] !== width) {
      throw new ShapeError(
        `${op}: bias ${formatShape(bias.shape)} does not match the last axis of x ${
          formatShape(x.shape)
        }`,
      );
    }
  }
  const result = out ?? Tensor.empty(gpu, x.shape);
  result.expectDtype("f32", `${op} out`);
  if (result.size !== x.size) {
    throw new ShapeError(
      `${op}: out ${formatShape(result.shape)} does not match x ${formatShape(x.shape)}`,
    );
  }
  const inPlace = sameStorage(x, result);
  if (!inPlace && overlaps(x, result)) {
    throw new ShapeError(`${op}: out partially overlaps x; pass x itself or a separate tensor`);
  }
  const entry = `main${bias ? "_bias" : ""}${inPlace ? "_inplace" : ""}`;
  const storage: ("read" | "write")[] = inPlace ? ["write"] : ["read", "write"];
  if (bias) storage.push("read");
  const kernel = gpu.kernel({
    name: `activation_${entry}`,
    code: src,
    params: { WG, OP: OPS[op] },
    entry,
    bindings: ["uniform", ...storage],
  });
  const resources = [...(inPlace ? [result] : [x, result]), ...(bias ? [bias] : [])];
  const u = new Uniforms().u32(x.size).u32(width);
  gpu.dispatch(kernel, resources, u.bytes(), grid1d(x.size, WG));
  return result;
}

/**
 * GELU with the tanh approximation, `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
 * @param x f32 input of any shape
 * @param out optional output of x's size; pass `x` to work in place
 */
export function gelu(x: Tensor, out?: Tensor): Tensor {
  return activation(x, "gelu", null, out);
}

/**
 * SiLU, `x·sigmoid(x)`.
 * @param x f32 input of any shape
 * @param out optional output of x's size; pass `x` to work in place
 */
export function silu(x: Tensor, out?: Tensor): Tensor {
  return activation(x, "silu", null, out);
}

/**
 * `GELU_tanh(x + bias)` with bias broadcast over the last axis (the first MLP linear's bias
 * when the matmul has no bias epilogue).
 * @param x f32 `[..., n]`
 * @param bias f32 `[n]`
 * @param out optional output of x's size; pass `x` to work in place
 */
export function biasGelu(x: Tensor, bias: Tensor, out?: Tensor): Tensor {
  return activation(x, "gelu", bias, out);
}
