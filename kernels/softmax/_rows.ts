/**
 * Argument checks and the one launcher shared by the row-wise ops (softmax, log_softmax):
 * one workgroup per row over `row_stats.wgsl`'s reductions. Private to the kernels package:
 * not re-exported by kernels/mod.ts.
 * @module
 */
import { formatShape, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import rowStats from "./row_stats.wgsl" with { type: "text" };

/** The shared row reductions (`row_stats.wgsl`), appended to every row-wise kernel. */
export const ROW_STATS_WGSL: string = rowStats;

/** Lanes per row: a power of two (the tree reduction halves it). */
export const ROW_WG = 256;

/**
 * Checks a row-wise op's input and returns `[rows, n]` (n = last axis).
 * @param what op name for error messages
 */
export function rowsOf(x: Tensor, what: string): [number, number] {
  x.expectDtype("f32", `${what} x`);
  if (x.shape.length === 0) throw new ShapeError(`${what}: x must have at least one axis, got []`);
  const n = x.shape[x.shape.length - 1];
  return [n === 0 ? 0 : x.size / n, n];
}

/**
 * Validates a `maskId` option against the row length and returns it as the kernel's i32
 * (−1 = none).
 */
export function maskColumn(maskId: number | undefined, n: number, what: string): number {
  const m = maskId ?? -1;
  if (!Number.isInteger(m)) throw new ShapeError(`${what}: maskId must be an integer, got ${m}`);
  if (m >= n) throw new ShapeError(`${what}: maskId ${m} is outside the last axis (size ${n})`);
  return m < 0 ? -1 : m;
}

/** Checks a temperature and returns 1/T. */
export function inverseTemperature(temperature: number | undefined, what: string): number {
  const t = temperature ?? 1;
  if (!(Number.isFinite(t) && t > 0)) {
    throw new RangeError(`${what}: temperature must be finite and > 0, got ${t}`);
  }
  return 1 / t;
}

/** The arguments every row-wise softmax-like launcher checks, resolved. */
export interface RowOp {
  rows: number;
  n: number;
  mask: number;
  scale: number;
  out: Tensor;
}

/**
 * Checks x and the options of a row-wise op (`what` names it in errors) and returns the row
 * count, width, excluded column, 1/T and the output (new, or the caller's, which must have x's
 * size and not share its buffer: WebGPU refuses one buffer bound read-only and writable).
 */
export function rowOpSetup(
  x: Tensor,
  opts: { maskId?: number; temperature?: number; out?: Tensor },
  what: string,
): RowOp {
  const [rows, n] = rowsOf(x, what);
  const mask = maskColumn(opts.maskId, n, what);
  const scale = inverseTemperature(opts.temperature, what);
  const out = opts.out ?? Tensor.empty(x.gpu, x.shape);
  out.expectDtype("f32", `${what} out`);
  if (out.size !== x.size) {
    throw new ShapeError(
      `${what}: out ${formatShape(out.shape)} does not match x ${formatShape(x.shape)}`,
    );
  }
  if (out.buffer === x.buffer) {
    throw new ShapeError(`${what}: out must not share x's buffer; pass a separate tensor`);
  }
  return { rows, n, mask, scale, out };
}

/**
 * Launches an elementwise-output row op (`softmax`, `log_softmax`): checks x and the options,
 * and runs `code` (with the row reductions appended) one workgroup per row on uniforms
 * (rows, n, excluded column, 1/T, −inf).
 * @param what op name for error messages
 * @param name kernel name
 */
export function launchRowOp(
  x: Tensor,
  opts: { maskId?: number; temperature?: number; out?: Tensor },
  what: string,
  name: string,
  code: string,
): Tensor {
  const { rows, n, mask, scale, out } = rowOpSetup(x, opts, what);
  const kernel = x.gpu.kernel({
    name,
    code: code + ROW_STATS_WGSL,
    params: { WG: ROW_WG },
    bindings: ["read", "write", "uniform"],
  });
  const u = new Uniforms().u32(rows).u32(n).i32(mask).f32(scale).f32(-Infinity);
  x.gpu.dispatch(kernel, [x, out], u.bytes(), grid1d(rows, 1));
  return out;
}
