/**
 * Reductions: sum, mean and max over the last axis ([..., n] → [...]) and over a whole tensor
 * (→ a scalar, shape []), plus the weighted sum Σ w_i x_i used for per-token weighted losses
 * (Σ ℓ ⊙ mask and Σ mask; docs/design.md, "Losses").
 *
 * Float accumulation: every lane sums its strided slice in chunks of 32 (a fresh partial per
 * chunk), the 256 lane totals are merged pairwise by a tree, and a whole-tensor reduction runs
 * in two stages (≤ 1024 workgroup partials, then one workgroup over those). The worst-case
 * rounding error thus grows like (32 + count/32 + log2 256 [+ stage 2]) ulp instead of
 * count ulp; see reduce.wgsl.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import src from "./reduce.wgsl" with { type: "text" };

/** Lanes per workgroup: a power of two (the tree reduction halves it). */
const WG = 256;
/** Elements per lane below which a whole-tensor reduction uses fewer stage-1 workgroups. */
const ITEMS_PER_LANE = 8;
/** Upper bound on stage-1 workgroups: stage 2 then reads ≤ 4 partials per lane. */
const MAX_GROUPS = 1024;

/** Options of the reductions. */
export interface ReduceOptions {
  /** Output tensor (f32): x's shape without the last axis, or any size-1 tensor for `*All`. */
  out?: Tensor;
}

type Op = "sum" | "mean" | "max";

function reduceKernel(gpu: Gpu, op: Op, weighted: boolean, entry = "main") {
  return gpu.kernel({
    name: `reduce_${entry}`,
    code: src,
    params: { WG, OP: op === "max" ? 1 : 0, WEIGHTED: weighted },
    bindings: ["read", "read", "write", "uniform"],
    entry,
  });
}

function checkWeights(x: Tensor, w: Tensor | null, what: string): void {
  x.expectDtype("f32", `${what} x`);
  if (!w) return;
  w.expectDtype("f32", `${what} w`);
  if (w.shape.length !== x.shape.length || w.shape.some((d, i) => d !== x.shape[i])) {
    throw new ShapeError(`${what}: w ${formatShape(w.shape)} must match x ${formatShape(x.shape)}`);
  }
}

function outputFor(gpu: Gpu, shape: readonly number[], out: Tensor | undefined, what: string) {
  if (!out) return Tensor.empty(gpu, shape);
  out.expectDtype("f32", `${what} out`);
  const size = shape.reduce((a, b) => a * b, 1);
  if (out.size !== size) {
    throw new ShapeError(`${what}: out ${formatShape(out.shape)} must hold ${formatShape(shape)}`);
  }
  return out;
}

function reduceRows(x: Tensor, w: Tensor | null, op: Op, what: string, out?: Tensor): Tensor {
  checkWeights(x, w, what);
  if (x.shape.length === 0) throw new ShapeError(`${what}: x must have at least one axis, got []`);
  const n = x.shape[x.shape.length - 1];
  const rowShape = x.shape.slice(0, -1);
  const rows = rowShape.reduce((a, b) => a * b, 1);
  const result = outputFor(x.gpu, rowShape, out, what);
  const u = new Uniforms().u32(rows).u32(n).u32(0).f32(op === "mean" ? n : 1)
    .f32(op === "max" ? -Infinity : 0);
  x.gpu.dispatch(
    reduceKernel(x.gpu, op, w !== null),
    [x, w ?? x, result],
    u.bytes(),
    grid1d(rows, 1),
  );
  return result;
}

function reduceAll(x: Tensor, w: Tensor | null, op: Op, what: string, out?: Tensor): Tensor {
  checkWeights(x, w, what);
  const gpu = x.gpu;
  const total = x.size;
  const result = outputFor(gpu, [], out, what);
  const groups = Math.min(MAX_GROUPS, Math.max(1, Math.ceil(total / (WG * ITEMS_PER_LANE))));
  const init = op === "max" ? -Infinity : 0;
  // Stage 1: per-workgroup partials of (w ⊙) x. The temporary goes back to the pool at once:
  // later users of the buffer are recorded after stage 2 and run after it, in stream order.
  using partials = Tensor.empty(gpu, [groups]);
  const u1 = new Uniforms().u32(1).u32(total).u32(groups).f32(1).f32(init);
  gpu.dispatch(reduceKernel(gpu, op, w !== null, "partial"), [x, w ?? x, partials], u1.bytes(), [
    groups,
  ]);
  // Stage 2: one row of `groups` partials; the mean divides by the full count here.
  const u2 = new Uniforms().u32(1).u32(groups).u32(0).f32(op === "mean" ? total : 1).f32(init);
  gpu.dispatch(reduceKernel(gpu, op, false), [partials, partials, result], u2.bytes(), [1]);
  return result;
}

/** Sum over the last axis: [..., n] → [...] (0 for n = 0). */
export function rowSum(x: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceRows(x, null, "sum", "sum", opts.out);
}

/** Mean over the last axis: [..., n] → [...] (NaN for n = 0). */
export function rowMean(x: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceRows(x, null, "mean", "mean", opts.out);
}

/** Maximum over the last axis: [..., n] → [...] (−inf for n = 0). */
export function rowMax(x: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceRows(x, null, "max", "max", opts.out);
}

/** Weighted sum over the last axis, Σ_i w[..., i]·x[..., i]: [..., n] → [...]; w is x's shape. */
export function rowWeightedSum(x: Tensor, w: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceRows(x, w, "sum", "weightedSum", opts.out);
}

/** Sum of every element → shape [] (two-stage). */
export function sumAll(x: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceAll(x, null, "sum", "sumAll", opts.out);
}

/** Mean of every element → shape [] (NaN for an empty tensor). */
export function meanAll(x: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceAll(x, null, "mean", "meanAll", opts.out);
}

/** Maximum of every element → shape [] (−inf for an empty tensor). */
export function maxAll(x: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceAll(x, null, "max", "maxAll", opts.out);
}

/**
 * Σ_i w_i·x_i over every element → shape [], e.g. the numerator Σ ℓ ⊙ mask of the per-token
 * average loss; the denominator is `sumAll(mask)`.
 */
export function weightedSumAll(x: Tensor, w: Tensor, opts: ReduceOptions = {}): Tensor {
  return reduceAll(x, w, "sum", "weightedSumAll", opts.out);
}
