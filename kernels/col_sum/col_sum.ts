/**
 * Column sums, the reduction behind every parameter gradient of a broadcast operand: a bias
 * gradient is the sum of dY over all rows (`colSum`), an adaLN shift/scale/gate gradient is a
 * sum over the sequence per batch (`batchColSum`), written straight into its chunk of a
 * `[B, n·d]` modulation-gradient tensor. Both can add into their output (`accumulate`) so the
 * gradients of several uses of one parameter sum up without an extra pass.
 *
 * The summation order is fixed (no atomics), so results are bit-reproducible run to run.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import { type ModChunk, resolveChunk, rowsPerBatch } from "../modulate/modulate.ts";
import src from "./col_sum.wgsl" with { type: "text" };

/** Lanes per workgroup (a power of two: the row lanes merge by a tree). */
const WG = 256;
/** Widest column tile; 64 f32 columns make each row's loads one 256-byte run. */
const MAX_TILE = 64;
/** Rows each lane sums per chunk before the partials are merged. */
const ROWS_PER_LANE = 16;

/** Options of `colSum`. */
export interface ColSumOptions {
  /** Output f32 `[n]` (any shape of n elements). */
  out?: Tensor;
  /** Add the sums to `out` instead of overwriting it (gradients of several uses add up). */
  accumulate?: boolean;
}

/** Options of `batchColSum`. */
export interface BatchColSumOptions {
  /** Number of row groups; x's first axis when x has rank ≥ 3 (required for a 2-D x). */
  batch?: number;
  /** Output f32 `[B, n]` (any shape of B·n elements). Exclusive with `into`. */
  out?: Tensor;
  /**
   * Write into chunk `into.chunk` of a `[B, k·n]` gradient tensor laid out like the adaLN
   * modulation (see `ModChunk`); a batch-1 tensor sums over every row. Exclusive with `out`.
   */
  into?: ModChunk;
  /** Add the sums to the output instead of overwriting it. */
  accumulate?: boolean;
}

/** Where a column sum lands: element j of group g is `g * stride + offset + j` of `tensor`. */
export interface SumTarget {
  /** f32 destination. */
  tensor: Tensor;
  /** Elements between groups. */
  stride: number;
  /** Element offset of group 0's column 0. */
  offset: number;
}

function widthOf(x: Tensor, what: string): number {
  x.expectDtype("f32", `${what} x`);
  if (x.shape.length === 0) throw new ShapeError(`${what}: x must have at least one axis, got []`);
  return x.shape[x.shape.length - 1];
}

/**
 * Records `target[g, j] (+)= Σ_r a[g·R + r, j] (· b[g·R + r, j])` for the `groups` equal row
 * groups of a row-major `[groups · R, n]` view of `a` (and `b`, same size). For the sibling
 * backward launchers; shapes are assumed checked. The caller must ensure `target` does not
 * overlap `a` or `b`.
 */
export function columnSums(
  a: Tensor,
  b: Tensor | null,
  n: number,
  groups: number,
  target: SumTarget,
  accumulate: boolean,
): void {
  const gpu: Gpu = a.gpu;
  if (n === 0 || groups === 0) return;
  const rowsPerGroup = a.size / n / groups;
  let tc = 1;
  while (tc < n && tc < MAX_TILE) tc *= 2;
  const chunkRows = (WG / tc) * ROWS_PER_LANE;
  const chunks = Math.max(1, Math.ceil(rowsPerGroup / chunkRows));
  const tiles = Math.ceil(n / tc);
  const totalWg = tiles * chunks * groups;
  const partial = gpu.kernel({
    name: "col_sum",
    code: src,
    params: { WG, TC: tc, PRODUCT: b !== null },
    entry: "partial",
    bindings: ["uniform", "read", "read", "write"],
  });
  const head = (u: Uniforms) =>
    u.u32(n).u32(rowsPerGroup).u32(groups).u32(tiles).u32(chunks).u32(chunkRows).u32(totalWg);
  if (chunks === 1) {
    const u = head(new Uniforms()).u32(target.stride).u32(0).u32(target.offset)
      .u32(accumulate ? 1 : 0);
    gpu.dispatch(partial, [a, b ?? a, target.tensor], u.bytes(), grid1d(totalWg, 1));
    return;
  }
  // The temporary goes back to the pool at once: later users of its buffer are recorded after
  // `finish` and therefore run after it.
  using partials = Tensor.empty(gpu, [groups, chunks, n]);
  const u1 = head(new Uniforms()).u32(chunks * n).u32(n).u32(0).u32(0);
  gpu.dispatch(partial, [a, b ?? a, partials], u1.bytes(), grid1d(totalWg, 1));
  const finish = gpu.kernel({
    name: "col_sum",
    code: src,
    params: { WG, TC: 1, PRODUCT: false },
    entry: "finish",
    bindings: ["uniform", "read", "read", "write"],
  });
  const u2 = head(new Uniforms()).u32(target.stride).u32(0).u32(target.offset)
    .u32(accumulate ? 1 : 0);
  gpu.dispatch(finish, [partials, partials, target.tensor], u2.bytes(), grid1d(groups * n, WG));
}

/**
 * Resolves a `[B, k·n]` gradient chunk as a sum target and returns the row-group count it
 * implies for `x` (its batch: 1 sums every row, else x's batch). Throws `ShapeError` when the
 * chunk does not fit n or x.
 */
export function chunkTarget(
  x: Tensor,
  n: number,
  into: ModChunk,
  what: string,
): { target: SumTarget; groups: number } {
  const c = resolveChunk(into, n, what);
  if (x.size > 0) rowsPerBatch(x, n, c, c, what);
  return { target: { tensor: into.tensor, stride: c.stride, offset: c.offset }, groups: c.batch };
}

function checkOut(out: Tensor, size: number, what: string): void {
  out.expectDtype("f32", `${what} out`);
  if (out.size !== size) {
    throw new ShapeError(`${what}: out ${formatShape(out.shape)} must hold ${size} elements`);
  }
}

/**
 * Sum over every row of the last axis: x `[..., n]` → `[n]` (zeros for no rows). The bias
 * gradient of `y = x·Wᵀ + b` is `colSum(dY)`.
 * @param x f32 input; its last axis is n
 * @param options output and accumulate flag
 */
export function colSum(x: Tensor, options: ColSumOptions = {}): Tensor {
  const n = widthOf(x, "colSum");
  const result = options.out ?? Tensor.empty(x.gpu, [n]);
  checkOut(result, n, "colSum");
  if (result.buffer === x.buffer) throw new ShapeError("colSum: out must not share x's buffer");
  columnSums(x, null, n, 1, { tensor: result, stride: n, offset: 0 }, options.accumulate ?? false);
  return result;
}

/**
 * Per-batch sum over the sequence: x `[B, S, n]` → `[B, n]`, e.g. the gradient of an adaLN
 * shift is `batchColSum(dY, { into: { tensor: dmod, chunk } })`.
 * @param x f32 `[B, S, n]` (or `[rows, n]` with `batch` dividing rows)
 * @param options batch, output (`out` tensor or `into` chunk) and accumulate flag
 * @returns `out`, or `into.tensor` when writing into a chunk
 */
export function batchColSum(x: Tensor, options: BatchColSumOptions = {}): Tensor {
  const what = "batchColSum";
  const n = widthOf(x, what);
  if (options.out && options.into) throw new ShapeError(`${what}: give out or into, not both`);
  if (options.into) {
    if (options.into.tensor.buffer === x.buffer) {
      throw new ShapeError(`${what}: into must not share x's buffer`);
    }
    const { target, groups } = chunkTarget(x, n, options.into, what);
    if (options.batch !== undefined && options.batch !== groups) {
      throw new ShapeError(`${what}: batch ${options.batch} differs from into's batch ${groups}`);
    }
    columnSums(x, null, n, groups, target, options.accumulate ?? false);
    return options.into.tensor;
  }
  const batch = options.batch ?? (x.shape.length >= 3 ? x.shape[0] : undefined);
  const rows = n === 0 ? 0 : x.size / n;
  if (batch === undefined || !Number.isInteger(batch) || batch < 1 || rows % batch !== 0) {
    throw new ShapeError(
      `${what}: batch ${batch} does not split the ${rows} rows of x ${formatShape(x.shape)}`,
    );
  }
  const result = options.out ?? Tensor.empty(x.gpu, [batch, n]);
  checkOut(result, batch * n, what);
  if (result.buffer === x.buffer) throw new ShapeError(`${what}: out must not share x's buffer`);
  columnSums(
    x,
    null,
    n,
    batch,
    { tensor: result, stride: n, offset: 0 },
    options.accumulate ?? false,
  );
  return result;
}
