/**
 * Error types of the GPU runtime. Each one carries a message a user can act on:
 * what went wrong and how to fix it. Front ends print `message` alone (no stack).
 * @module
 */

/** Base class: errors that are the user's environment or input, not a bug in blockdiff. */
export class BlockdiffError extends Error {
  /** Process exit code a front end should use for this error. */
  readonly exitCode: number = 1;
  /** A message naming the problem and its fix; `options.cause` keeps the underlying error. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** No WebGPU adapter could be found or created. */
export class NoAdapterError extends BlockdiffError {
  /** Exit code 3: no GPU. */
  override readonly exitCode = 3;
}

/** The GPU device was lost (driver reset, out of memory, destroyed). */
export class DeviceLostError extends BlockdiffError {
  /** Exit code 4: device lost. */
  override readonly exitCode = 4;
}

/** A WGSL shader failed to compile or a dispatch failed validation. */
export class KernelError extends BlockdiffError {
  /** Exit code 5: kernel failure. */
  override readonly exitCode = 5;
}

/** Tensor shapes or dtypes do not fit an operation. */
export class ShapeError extends BlockdiffError {
  /** Exit code 2: bad input shapes. */
  override readonly exitCode = 2;
}

/** Formats a shape as `[2, 3, 4]` for error messages. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
