/**
 * Argument checks shared by the row-wise launchers (softmax, log_softmax). Private to the
 * kernels package: not re-exported by kernels/mod.ts.
 * @module
 */
import { ShapeError, type Tensor } from "@blockdiff/core";

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
