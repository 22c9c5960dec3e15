/**
 * Backward of `layerNorm`, plain `y = LN(x) ⊙ w` or fused with adaLN modulate
 * `y = LN(x) ⊙ w ⊙ (1 + scale[b]) + shift[b]` (docs/design.md, "adaLN conditioning"), with LN(x) =
 * x̂ the normalised row:
 * - `dx = rstd · (n̂ − mean(n̂) − x̂ · mean(n̂ ⊙ x̂))`, n̂ = dy ⊙ (1 + scale[b]) ⊙ w
 * - `dw = Σ_rows dy ⊙ (1 + scale[b]) ⊙ x̂`
 * - `dshift[b] = Σ_s dy`, `dscale[b] = Σ_s dy ⊙ x̂ ⊙ w`, written into chunks of gradient tensors
 *   laid out like the modulation tensor `[B, n·d]`, at the forward's chunk positions.
 *
 * Needs from the forward only its inputs (x, weight, the scale chunk; shift for its layout):
 * the row statistics μ and rstd are recomputed from x with the forward's two-pass arithmetic,
 * which costs one extra read of x and saves storing them.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import { columnSums } from "../col_sum/col_sum.ts";
import { type ModChunk, overlaps, resolveChunk, rowsPerBatch } from "../modulate/modulate.ts";
import { gradientChunks, sumTarget } from "../modulate/modulate_backward.ts";
import { LAYER_NORM_EPS } from "./layer_norm.ts";
import src from "./layer_norm_backward.wgsl" with { type: "text" };

/** Options of `layerNormBackward`. */
export interface LayerNormBackwardOptions {
  /** The forward's shift chunk (give both shift and scale, or neither). */
  shift?: ModChunk;
  /** The forward's scale chunk. */
  scale?: ModChunk;
  /** The forward's epsilon; `LAYER_NORM_EPS` when omitted. */
  eps?: number;
  /** Output for dx, x's size; must not overlap x or dy. */
  dx?: Tensor;
  /** Add to `dx` instead of overwriting it (e.g. onto the skip path's gradient). */
  accumulateDx?: boolean;
  /** Output for dw, f32 `[d]`. */
  dw?: Tensor;
  /** Where dshift goes; default: the same chunk of a new zero tensor shaped like shift's. */
  dshift?: ModChunk;
  /** Where dscale goes; default: the same chunk of a new zero tensor shaped like scale's. */
  dscale?: ModChunk;
  /** Add to dw, dshift and dscale instead of overwriting them. */
  accumulate?: boolean;
}

/** Gradients of `layerNorm`. */
export interface LayerNormGrads {
  /** dL/dx, x's shape. */
  dx: Tensor;
  /** dL/dweight, `[d]`. */
  dw: Tensor;
  /** dL/dshift (modulated only), a chunk of its gradient tensor. */
  dshift?: ModChunk;
  /** dL/dscale (modulated only), a chunk of its gradient tensor. */
  dscale?: ModChunk;
}

/** Same rule as the forward: one lane per element up to 256, at least 32, a power of two. */
function workgroupSize(width: number): number {
  let wg = 32;
  while (wg < width && wg < 256) wg *= 2;
  return wg;
}

function checkOut(t: Tensor, size: number, name: string, x: Tensor): void {
  t.expectDtype("f32", `layerNormBackward ${name}`);
  if (t.size !== size) {
    throw new ShapeError(
      `layerNormBackward: ${name} ${formatShape(t.shape)} does not fit x ${formatShape(x.shape)}`,
    );
  }
}

/**
 * Backward of `layerNorm(x, weight, { shift, scale, eps })`.
 * @param dy f32 gradient of the output, x's shape
 * @param x f32 forward input `[B, S, d]` (any shape with last axis d; see `ModChunk`)
 * @param weight f32 `[d]`
 * @param options the forward's modulation and eps, outputs and accumulate flags
 */
export function layerNormBackward(
  dy: Tensor,
  x: Tensor,
  weight: Tensor,
  options: LayerNormBackwardOptions = {},
): LayerNormGrads {
  const what = "layerNormBackward";
  const gpu: Gpu = x.gpu;
  x.expectDtype("f32", `${what} x`);
  dy.expectDtype("f32", `${what} dy`);
  weight.expectDtype("f32", `${what} weight`);
  const width = x.shape[x.shape.length - 1] ?? 1;
  if (weight.shape.length !== 1 || weight.shape[0] !== width) {
    throw new ShapeError(
      `${what}: weight ${formatShape(weight.shape)} does not match x ${formatShape(x.shape)}`,
    );
  }
  if (dy.size !== x.size) {
    throw new ShapeError(
      `${what}: dy ${formatShape(dy.shape)} does not match x ${formatShape(x.shape)}`,
    );
  }
  const { shift, scale } = options;
  if (Boolean(shift) !== Boolean(scale)) {
    throw new ShapeError(`${what}: give both shift and scale, or neither`);
  }
  const rows = width === 0 ? 0 : x.size / width;
  const sc = scale ? resolveChunk(scale, width, `${what} scale`) : null;
  const sh = shift ? resolveChunk(shift, width, `${what} shift`) : null;
  const perBatch = sh && sc && rows > 0 ? rowsPerBatch(x, width, sh, sc, what) : Math.max(rows, 1);
  if (options.dx) {
    checkOut(options.dx, x.size, "dx", x);
    if (overlaps(options.dx, x) || overlaps(options.dx, dy)) {
      throw new ShapeError(`${what}: dx must not overlap x or dy`);
    }
  }
  if (options.dw) {
    checkOut(options.dw, width, "dw", x);
    if ([x, dy, weight, options.dx].some((t) => t && t.buffer === options.dw!.buffer)) {
      throw new ShapeError(`${what}: dw must not share a buffer with x, dy, weight or dx`);
    }
  }
  if (options.accumulateDx && !options.dx) {
    throw new ShapeError(`${what}: accumulateDx needs a dx to add to`);
  }
  const others = [x, dy, weight, options.dx, options.dw, shift?.tensor, scale?.tensor]
    .filter((t): t is Tensor => !!t);
  const [dshift, dscale] = shift && scale
    ? gradientChunks([[options.dshift, shift], [options.dscale, scale]], width, others, what)
    : [undefined, undefined];
  const dx = options.dx ?? Tensor.empty(gpu, x.shape);
  const dw = options.dw ?? Tensor.empty(gpu, [width]);
  const acc = options.accumulate ?? false;
  const eps = options.eps ?? LAYER_NORM_EPS;

  const WG = workgroupSize(width);
  const hasMod = Boolean(sc);
  const params = { WG, HAS_MOD: hasMod, ACC_DX: options.accumulateDx ?? false };
  const rowKernel = gpu.kernel({
    name: "layer_norm_backward",
    code: src,
    params,
    bindings: ["uniform", "read", "read", "read", "read", "write", "write"],
  });
  const head = new Uniforms().u32(rows).u32(width).u32(perBatch)
    .u32(sc?.stride ?? 0).u32(sc?.offset ?? 0).f32(eps).u32(0).u32(0).u32(0).u32(0);
  // x̂ for the column sums. The temporaries go back to the pool at once: later users of their
  // buffers are recorded after the sums below and therefore run after them.
  using xhat = Tensor.empty(gpu, x.shape);
  // Without modulation the scale binding is unused; bind the weight as a stand-in.
  gpu.dispatch(
    rowKernel,
    [weight, scale?.tensor ?? weight, x, dy, dx, xhat],
    head.bytes(),
    grid1d(rows, 1),
  );
  if (!sc || !scale || !dshift || !dscale) {
    columnSums(dy, xhat, width, 1, { tensor: dw, stride: width, offset: 0 }, acc);
    return { dx, dw };
  }
  columnSums(dy, null, width, sc.batch, sumTarget(x, width, dshift, what), acc);
  using pb = Tensor.empty(gpu, [sc.batch, width]);
  columnSums(dy, xhat, width, sc.batch, { tensor: pb, stride: width, offset: 0 }, false);
  const ds = resolveChunk(dscale, width, what);
  const colKernel = gpu.kernel({
    name: "layer_norm_backward",
    code: src,
    params,
    entry: "params",
    bindings: ["uniform", "read", "read", "read", "read", "write", "write"],
  });
  const u = new Uniforms().u32(rows).u32(width).u32(perBatch)
    .u32(sc.stride).u32(sc.offset).f32(eps)
    .u32(sc.batch).u32(ds.stride).u32(ds.offset).u32(acc ? 1 : 0);
  // Binding 4 (dy in `main`) is unused by `params`; P stands in.
  gpu.dispatch(
    colKernel,
    [weight, scale.tensor, pb, pb, dw, dscale.tensor],
    u.bytes(),
    grid1d(width, WG),
  );
  return { dx, dw, dshift, dscale };
}
