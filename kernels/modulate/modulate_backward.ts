/**
 * Backward of adaLN modulate `y = x ⊙ (1 + scale[b]) + shift[b]` (docs/design.md, "adaLN
 * conditioning";
 * 1.8): `dx = dy ⊙ (1 + scale[b])`, `dshift[b] = Σ_s dy`, `dscale[b] = Σ_s dy ⊙ x`. The shift
 * and scale gradients go into chunks of gradient tensors laid out like the modulation tensor
 * `[B, n·d]`, so the adaLN linear's backward reads them as one `[B, n·d]` dY. Also holds the
 * gradient-chunk helpers the LayerNorm and residual backwards share.
 *
 * Needs from the forward: x (the modulate input) and the scale chunk; shift only for its layout.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import { chunkTarget, columnSums, type SumTarget } from "../col_sum/col_sum.ts";
import { type ModChunk, overlaps, resolveChunk, rowsPerBatch, sameStorage } from "./modulate.ts";
import src from "./modulate_backward.wgsl" with { type: "text" };

const WG = 256;

/** Options of `modulateBackward`. */
export interface ModulateBackwardOptions {
  /** Output for dx, x's size; pass `dy` itself to overwrite dy in place. */
  dx?: Tensor;
  /** Where dshift goes; default: the same chunk of a new zero tensor shaped like shift's. */
  dshift?: ModChunk;
  /** Where dscale goes; default: the same chunk of a new zero tensor shaped like scale's. */
  dscale?: ModChunk;
  /** Add to the dshift/dscale chunks instead of overwriting them. */
  accumulate?: boolean;
}

/** Gradients of `modulate`. */
export interface ModulateGrads {
  /** dL/dx, x's shape. */
  dx: Tensor;
  /** dL/dshift as a chunk of its gradient tensor. */
  dshift: ModChunk;
  /** dL/dscale as a chunk of its gradient tensor. */
  dscale: ModChunk;
}

/**
 * Returns the gradient chunk for each `[given, forward chunk]` pair: `given` as is, or the
 * forward chunk's index in a new zero tensor shaped like the forward's modulation tensor (one
 * tensor per distinct forward tensor, so chunks of one modulation share one gradient). Checks
 * that a given chunk's tensor has the forward's batch, does not share a buffer with any of
 * `inputs` (the tensors the backward reads or its other outputs), and that no two given chunks
 * coincide.
 */
export function gradientChunks(
  pairs: readonly [ModChunk | undefined, ModChunk][],
  width: number,
  inputs: readonly Tensor[],
  what: string,
): ModChunk[] {
  // Validate every given chunk before allocating defaults, so a throw leaks nothing.
  for (const [given, fwd] of pairs) {
    if (!given) continue;
    const g = resolveChunk(given, width, `${what} gradient`);
    const f = resolveChunk(fwd, width, what);
    if (g.batch !== f.batch) {
      throw new ShapeError(
        `${what}: gradient ${formatShape(given.tensor.shape)} has batch ${g.batch}, the ` +
          `modulation ${formatShape(fwd.tensor.shape)} has ${f.batch}`,
      );
    }
    if (inputs.some((x) => x.buffer === given.tensor.buffer)) {
      throw new ShapeError(`${what}: a gradient chunk shares a buffer with an input or output`);
    }
  }
  pairs.forEach(([a], i) => {
    pairs.slice(i + 1).forEach(([b]) => {
      if (a && b && a.tensor === b.tensor && a.chunk === b.chunk) {
        throw new ShapeError(`${what}: two gradients target chunk ${a.chunk} of one tensor`);
      }
    });
  });
  const fresh = new Map<Tensor, Tensor>();
  return pairs.map(([given, fwd]) => {
    if (given) return given;
    let t = fresh.get(fwd.tensor);
    if (!t) fresh.set(fwd.tensor, t = Tensor.zeros(fwd.tensor.gpu, fwd.tensor.shape));
    return { tensor: t, chunk: fwd.chunk };
  });
}

/** A gradient chunk as a column-sum target (its batch checked against x's). */
export function sumTarget(x: Tensor, width: number, c: ModChunk, what: string): SumTarget {
  return chunkTarget(x, width, c, what).target;
}

/**
 * Backward of `modulate(x, shift, scale)`.
 * @param dy f32 gradient of the output, x's shape
 * @param x f32 input of the forward `[B, S, d]`
 * @param shift the forward's shift chunk (only its layout is used)
 * @param scale the forward's scale chunk
 * @param options dx output (may be dy), gradient chunks and accumulate flag
 */
export function modulateBackward(
  dy: Tensor,
  x: Tensor,
  shift: ModChunk,
  scale: ModChunk,
  options: ModulateBackwardOptions = {},
): ModulateGrads {
  const what = "modulateBackward";
  const gpu: Gpu = x.gpu;
  x.expectDtype("f32", `${what} x`);
  dy.expectDtype("f32", `${what} dy`);
  if (dy.size !== x.size) {
    throw new ShapeError(
      `${what}: dy ${formatShape(dy.shape)} does not match x ${formatShape(x.shape)}`,
    );
  }
  const width = x.shape[x.shape.length - 1] ?? 1;
  const sh = resolveChunk(shift, width, `${what} shift`);
  const sc = resolveChunk(scale, width, `${what} scale`);
  const perBatch = width === 0 || x.size === 0 ? 1 : rowsPerBatch(x, width, sh, sc, what);
  if (options.dx) {
    options.dx.expectDtype("f32", `${what} dx`);
    if (options.dx.size !== x.size) {
      throw new ShapeError(
        `${what}: dx ${formatShape(options.dx.shape)} does not match x ${formatShape(x.shape)}`,
      );
    }
    if (!sameStorage(dy, options.dx) && overlaps(dy, options.dx)) {
      throw new ShapeError(
        `${what}: dx partially overlaps dy; pass dy itself or a separate tensor`,
      );
    }
  }
  const [dshift, dscale] = gradientChunks(
    [[options.dshift, shift], [options.dscale, scale]],
    width,
    [dy, x, shift.tensor, scale.tensor, ...(options.dx ? [options.dx] : [])],
    what,
  );
  const dx = options.dx ?? Tensor.empty(gpu, x.shape);
  const inPlace = sameStorage(dy, dx);
  const acc = options.accumulate ?? false;
  // The sums read dy before dx may overwrite it: dispatches run in recording order.
  columnSums(dy, null, width, sh.batch, sumTarget(x, width, dshift, what), acc);
  columnSums(dy, x, width, sc.batch, sumTarget(x, width, dscale, what), acc);
  const kernel = gpu.kernel({
    name: "modulate_backward",
    code: src,
    params: { WG },
    entry: inPlace ? "main_inplace" : "main",
    bindings: inPlace ? ["uniform", "read", "write"] : ["uniform", "read", "read", "write"],
  });
  const u = new Uniforms().u32(x.size).u32(width).u32(perBatch).u32(sc.stride).u32(sc.offset);
  gpu.dispatch(
    kernel,
    inPlace ? [scale.tensor, dx] : [scale.tensor, dy, dx],
    u.bytes(),
    grid1d(x.size, WG),
  );
  return { dx, dshift, dscale };
}
