/**
 * Backward of the gated residual `out = x + gate[b] ⊙ y`:
 * - `dx = dout`: no kernel; the caller keeps using `dout` as the stream's gradient.
 * - `dy = gate[b] ⊙ dout` (this kernel).
 * - `dgate[b] = Σ_s dout ⊙ y`, written into a chunk of a gradient tensor laid out like the
 *   modulation the gate came from (`[B, 6d]`, chunk 2 for gate_msa, 5 for gate_mlp), so the
 *   adaLN linear's backward reads all six chunks as one `[B, 6d]` dY.
 * The ungated residual `x + y` has dx = dy = dout and needs no backward kernel at all.
 *
 * Needs from the forward: y (the branch output, before gating) and the gate.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import { columnSums } from "../col_sum/col_sum.ts";
import { type ModChunk, overlaps, resolveChunk } from "../modulate/modulate.ts";
import { gradientChunks } from "../modulate/modulate_backward.ts";
import src from "./residual_backward.wgsl" with { type: "text" };

const WG = 256;

/** Options of `residualBackward`. */
export interface ResidualBackwardOptions {
  /** Output for dy, y's size. May be `y` itself (y is read before dy is written). */
  dy?: Tensor;
  /** Where dgate goes; default: the same chunk of a new zero tensor shaped like the gate's. */
  dgate?: ModChunk;
  /** Add to the dgate chunk instead of overwriting it. */
  accumulate?: boolean;
}

/** Gradients of a gated `residual`. dx is `dout` itself and is not returned. */
export interface ResidualGrads {
  /** dL/dy, y's shape. */
  dy: Tensor;
  /** dL/dgate as a chunk of its gradient tensor. */
  dgate: ModChunk;
}

/**
 * Backward of `residual(x, y, gate)`.
 * @param dout f32 gradient of the output `[B, S, d]` (also dL/dx)
 * @param y f32 branch output of the forward, dout's shape
 * @param gate the forward's gate: a `[B, d]` tensor or a chunk of a `[B, n·d]` modulation
 * @param options dy output, dgate chunk and accumulate flag
 */
export function residualBackward(
  dout: Tensor,
  y: Tensor,
  gate: Tensor | ModChunk,
  options: ResidualBackwardOptions = {},
): ResidualGrads {
  const what = "residualBackward";
  const gpu: Gpu = dout.gpu;
  dout.expectDtype("f32", `${what} dout`);
  y.expectDtype("f32", `${what} y`);
  if (y.size !== dout.size) {
    throw new ShapeError(
      `${what}: dout ${formatShape(dout.shape)} and y ${formatShape(y.shape)} differ`,
    );
  }
  const width = dout.shape[dout.shape.length - 1];
  if (gate instanceof Tensor) gate.expectShape([gate.shape[0], width], `${what} gate`);
  const chunk = gate instanceof Tensor ? { tensor: gate, chunk: 0 } : gate;
  const g = resolveChunk(chunk, width, `${what} gate`);
  if (dout.size % (g.batch * width) !== 0) {
    throw new ShapeError(
      `${what}: gate ${formatShape(chunk.tensor.shape)} does not fit dout ${
        formatShape(dout.shape)
      }`,
    );
  }
  if (options.dy) {
    options.dy.expectDtype("f32", `${what} dy`);
    if (options.dy.size !== y.size) {
      throw new ShapeError(
        `${what}: dy ${formatShape(options.dy.shape)} does not match y ${formatShape(y.shape)}`,
      );
    }
    if (overlaps(options.dy, dout) || overlaps(options.dy, chunk.tensor)) {
      throw new ShapeError(`${what}: dy must not overlap dout or the gate`);
    }
  }
  const [dgate] = gradientChunks(
    [[options.dgate, chunk]],
    width,
    [dout, y, chunk.tensor, ...(options.dy ? [options.dy] : [])],
    what,
  );
  const dy = options.dy ?? Tensor.empty(gpu, y.shape);
  // The sum reads y before dy (which may be y) is written: dispatches run in recording order.
  const t = resolveChunk(dgate, width, `${what} dgate`);
  const target = { tensor: dgate.tensor, stride: t.stride, offset: t.offset };
  columnSums(dout, y, width, g.batch, target, options.accumulate ?? false);
  const kernel = gpu.kernel({
    name: "residual_backward",
    code: src,
    params: { WG },
    bindings: ["uniform", "read", "read", "write"],
  });
  const u = new Uniforms().u32(dout.size).u32(dout.size / (g.batch * width)).u32(width)
    .u32(g.stride).u32(g.offset);
  gpu.dispatch(kernel, [chunk.tensor, dout, dy], u.bytes(), grid1d(dout.size, WG));
  return { dy, dgate };
}
