/**
 * Argument checks shared by the row-wise launchers (softmax, log_softmax). Private to the
 * kernels package: not re-exported by kernels/mod.ts.
 * @module
 */
import { formatShape, ShapeError, Tensor } from "@blockdiff/core";

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
