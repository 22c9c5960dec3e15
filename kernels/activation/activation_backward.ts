/**
 * Backward of the elementwise activations (`activation`, `gelu`, `silu`, `biasGelu`):
 * `dx = dy ⊙ f′(x + bias)` and, with a bias, `dbias = Σ_rows dx` (the gradient of the bias
 * broadcast over the last axis).
 *
 * Needs from the forward: its input x (the pre-activation, before the bias) and the bias; the
 * activation's output is not used.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import { columnSums } from "../col_sum/col_sum.ts";
import { overlaps, sameStorage } from "../modulate/modulate.ts";
import type { Activation } from "./activation.ts";
import src from "./activation_backward.wgsl" with { type: "text" };

const WG = 256;
const OPS: Record<Activation, number> = { gelu: 0, silu: 1 };

/** Options of `activationBackward`. */
export interface ActivationBackwardOptions {
  /** The forward's bias `[d]` (d = last axis of x), if it had one. */
  bias?: Tensor | null;
  /** Output for dx, x's size; pass `dy` itself to overwrite dy in place. */
  dx?: Tensor;
  /** Output for dbias, f32 `[d]` (only with a bias). */
  dbias?: Tensor;
  /** Add to `dbias` instead of overwriting it. */
  accumulate?: boolean;
}

/** Gradients of an activation. */
export interface ActivationGrads {
  /** dL/dx (equal to dL/d(x + bias)), x's shape. */
  dx: Tensor;
  /** dL/dbias `[d]`, present when the forward had a bias. */
  dbias?: Tensor;
}

/**
 * Backward of `activation(x, op, bias)`.
 * @param dy f32 gradient of the activation's output, x's shape
 * @param x f32 forward input (before the bias)
 * @param op `gelu` (tanh approximation) or `silu`
 * @param options the forward's bias, outputs (dx may be dy) and accumulate flag
 */
export function activationBackward(
  dy: Tensor,
  x: Tensor,
  op: Activation,
  options: ActivationBackwardOptions = {},
): ActivationGrads {
  const what = `${op}Backward`;
  const gpu: Gpu = x.gpu;
  x.expectDtype("f32", `${what} x`);
  dy.expectDtype("f32", `${what} dy`);
  if (dy.size !== x.size) {
    throw new ShapeError(
      `${what}: dy ${formatShape(dy.shape)} does not match x ${formatShape(x.shape)}`,
    );
  }
  const width = x.shape[x.shape.length - 1] ?? 1;
  const bias = options.bias ?? null;
  if (bias) {
    bias.expectDtype("f32", `${what} bias`);
    if (bias.shape.length !== 1 || bias.shape[0] !== width) {
      throw new ShapeError(
        `${what}: bias ${formatShape(bias.shape)} does not match the last axis of x ${
          formatShape(x.shape)
        }`,
      );
    }
  } else if (options.dbias) {
    throw new ShapeError(`${what}: dbias given but the forward had no bias`);
  }
  if (options.dx) {
    options.dx.expectDtype("f32", `${what} dx`);
    if (options.dx.size !== x.size) {
      throw new ShapeError(
        `${what}: dx ${formatShape(options.dx.shape)} does not match x ${formatShape(x.shape)}`,
      );
    }
    if (overlaps(options.dx, x) || (!sameStorage(dy, options.dx) && overlaps(options.dx, dy))) {
      throw new ShapeError(`${what}: dx must not overlap x, and may be dy only as a whole`);
    }
  }
  if (options.dbias) {
    options.dbias.expectDtype("f32", `${what} dbias`);
    if (options.dbias.size !== width) {
      throw new ShapeError(
        `${what}: dbias ${formatShape(options.dbias.shape)} must hold ${width} elements`,
      );
    }
    if ([x, dy, options.dx].some((t) => t && t.buffer === options.dbias!.buffer)) {
      throw new ShapeError(`${what}: dbias must not share a buffer with x, dy or dx`);
    }
  }
  const dx = options.dx ?? Tensor.empty(gpu, x.shape);
  const inPlace = sameStorage(dy, dx);
  const entry = `main${bias ? "_bias" : ""}${inPlace ? "_inplace" : ""}`;
  const storage: ("read" | "write")[] = inPlace ? ["read", "write"] : ["read", "read", "write"];
  // The bias sits at binding 4 in every entry; in place, binding 3 is unused and dx stands in.
  const resources = inPlace ? [x, dx] : [x, dy, dx];
  if (bias) {
    if (inPlace) {
      storage.push("read");
      resources.push(bias);
    }
    storage.push("read");
    resources.push(bias);
  }
  const kernel = gpu.kernel({
    name: `activation_backward_${entry}`,
    code: src,
    params: { WG, OP: OPS[op] },
    entry,
    bindings: ["uniform", ...storage],
  });
  gpu.dispatch(
    kernel,
    resources,
    new Uniforms().u32(x.size).u32(width).bytes(),
    grid1d(x.size, WG),
  );
  if (!bias) return { dx };
  const dbias = options.dbias ?? Tensor.empty(gpu, [width]);
  // Recorded after the dx kernel, so it sums the finished dx.
  columnSums(
    dx,
    null,
    width,
    1,
    { tensor: dbias, stride: width, offset: 0 },
    options.accumulate ?? false,
  );
  return { dx, dbias };
}

/**
 * Backward of `gelu(x)`: `dy ⊙ GELU_tanh′(x)`.
 * @param dy f32 gradient of the output
 * @param x f32 forward input
 * @param dx optional output of x's size; pass `dy` to overwrite it
 */
export function geluBackward(dy: Tensor, x: Tensor, dx?: Tensor): Tensor {
  return activationBackward(dy, x, "gelu", { dx }).dx;
}

/**
 * Backward of `silu(x)`: `dy ⊙ SiLU′(x)`.
 * @param dy f32 gradient of the output
 * @param x f32 forward input
 * @param dx optional output of x's size; pass `dy` to overwrite it
 */
export function siluBackward(dy: Tensor, x: Tensor, dx?: Tensor): Tensor {
  return activationBackward(dy, x, "silu", { dx }).dx;
}

/**
 * Backward of `biasGelu(x, bias)`: `dx = dy ⊙ GELU_tanh′(x + bias)`, `dbias = Σ_rows dx`.
 * @param dy f32 gradient of the output `[..., n]`
 * @param x f32 forward input (before the bias)
 * @param bias f32 `[n]`
 * @param options outputs (dx may be dy) and accumulate flag for dbias
 */
export function biasGeluBackward(
  dy: Tensor,
  x: Tensor,
  bias: Tensor,
  options: Omit<ActivationBackwardOptions, "bias"> = {},
): Required<ActivationGrads> {
  const g = activationBackward(dy, x, "gelu", { ...options, bias });
  return { dx: g.dx, dbias: g.dbias! };
}
