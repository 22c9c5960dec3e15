/**
 * Splitting a row-major matrix into blocks of whole rows that each fit one storage binding:
 * WebGPU binds at most `maxStorageBufferBindingSize` bytes at once (128 MiB by default in
 * browsers and on lavapipe), less than a 50258 × 768 f32 vocabulary matrix. Each block must
 * also start on the adapter's storage-offset alignment.
 * @module
 */
import { type Gpu, ShapeError, type Tensor } from "@blockdiff/core";

/** Rows `row0 … row0 + rows − 1` of a matrix, bound on their own. */
export interface RowChunk {
  /** First row of the block. */
  row0: number;
  /** Rows in the block. */
  rows: number;
  /** The block's bytes within the tensor's buffer. */
  binding: GPUBufferBinding;
}

/**
 * Blocks of rows of `t` (rows of `rowBytes` bytes each, `rowCount` in all) that each fit
 * `limit` bytes (default: the adapter's binding limit): one block when the whole tensor fits.
 * Blocks hold a multiple of align / gcd(rowBytes, align) rows so that each starts aligned.
 * @param what names the tensor in the error when no aligned block of rows fits
 */
export function rowChunks(
  gpu: Gpu,
  t: Tensor,
  rowBytes: number,
  rowCount: number,
  what: string,
  limit: number = gpu.device.limits.maxStorageBufferBindingSize,
): RowChunk[] {
  if (t.paddedBytes <= limit) return [{ row0: 0, rows: rowCount, binding: t.binding() }];
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  const step = align / gcd(rowBytes, align);
  const perChunk = Math.floor(limit / rowBytes / step) * step;
  if (perChunk === 0 || t.offset % align !== 0) {
    throw new ShapeError(
      `${what} (${t.paddedBytes} bytes) exceeds the adapter's ${limit}-byte storage binding ` +
        `limit and cannot be split: blocks of rows of ${rowBytes} bytes aligned to ${align} ` +
        "bytes do not fit one binding",
    );
  }
  const chunks: RowChunk[] = [];
  for (let row0 = 0; row0 < rowCount; row0 += perChunk) {
    const rows = Math.min(perChunk, rowCount - row0);
    chunks.push({
      row0,
      rows,
      binding: { buffer: t.buffer, offset: t.offset + row0 * rowBytes, size: rows * rowBytes },
    });
  }
  return chunks;
}

function gcd(x: number, y: number): number {
  while (y) [x, y] = [y, x % y];
  return x;
}
