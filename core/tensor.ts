/**
 * GPU tensors: a pooled buffer, a shape and a dtype. Views (`reshape`, `rows`) share the
 * buffer and keep it alive by reference count; `dispose()` (or `using`) hands the buffer back
 * to the pool once no view needs it.
 * @module
 */
import type { Bindable, Gpu } from "./gpu/runtime.ts";
import { formatShape, ShapeError } from "./gpu/errors.ts";
import { decodeHalf, encodeHalf } from "./gpu/half.ts";

/** Element types a tensor can hold. `f16` needs the adapter's `shader-f16`. */
export type DType = "f32" | "f16" | "i32" | "u32";

/** Host arrays per dtype (f16 reads back as f32). */
export type HostArray<D extends DType> = D extends "i32" ? Int32Array
  : D extends "u32" ? Uint32Array
  : Float32Array;

/** Bytes per element. */
export function dtypeBytes(dtype: DType): number {
  return dtype === "f16" ? 2 : 4;
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function checkShape(shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(
        `invalid tensor shape ${formatShape(shape)}: sizes must be integers ≥ 0`,
      );
    }
  }
}

class Storage {
  refs = 1;
  constructor(readonly gpu: Gpu, readonly buffer: GPUBuffer) {}
  release(): void {
    if (--this.refs === 0) this.gpu.pool.release(this.buffer);
  }
}

let liveTensors = 0;

/** Number of tensors created and not yet disposed (for leak tests). */
export function liveTensorCount(): number {
  return liveTensors;
}

/** A tensor on the GPU. */
export class Tensor implements Bindable {
  /** The runtime owning the buffer. */
  readonly gpu: Gpu;
  /** Dimensions, outermost first. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** Byte offset of element 0 within the buffer. */
  readonly offset: number;
  #storage: Storage | null;

  private constructor(
    gpu: Gpu,
    storage: Storage,
    shape: readonly number[],
    dtype: DType,
    offset: number,
  ) {
    this.gpu = gpu;
    this.#storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.offset = offset;
    liveTensors++;
  }

  /** An uninitialised tensor (contents are whatever the pooled buffer held). */
  static empty(gpu: Gpu, shape: readonly number[], dtype: DType = "f32"): Tensor {
    checkShape(shape);
    if (dtype === "f16" && !gpu.features.f16) {
      throw new ShapeError(
        "f16 tensors need the adapter feature shader-f16, which this adapter lacks",
      );
    }
    const bytes = Math.max(4, Math.ceil((numel(shape) * dtypeBytes(dtype)) / 4) * 4);
    const buffer = gpu.pool.acquire(bytes);
    return new Tensor(gpu, new Storage(gpu, buffer), shape, dtype, 0);
  }

  /** A zero-filled tensor. */
  static zeros(gpu: Gpu, shape: readonly number[], dtype: DType = "f32"): Tensor {
    const t = Tensor.empty(gpu, shape, dtype);
    gpu.clear(t.buffer, 0, t.paddedBytes);
    return t;
  }

  /** A tensor holding host data (converted to the dtype). */
  static from(
    gpu: Gpu,
    data: ArrayLike<number>,
    shape: readonly number[],
    dtype: DType = "f32",
  ): Tensor {
    checkShape(shape);
    if (data.length !== numel(shape)) {
      throw new ShapeError(
        `Tensor.from: ${data.length} values do not fill shape ${formatShape(shape)} (${
          numel(shape)
        } elements)`,
      );
    }
    const t = Tensor.empty(gpu, shape, dtype);
    t.write(data);
    return t;
  }

  /** The underlying buffer. */
  get buffer(): GPUBuffer {
    if (!this.#storage) throw new ShapeError("tensor used after dispose()");
    return this.#storage.buffer;
  }

  /** Number of elements. */
  get size(): number {
    return numel(this.shape);
  }

  /** Bytes of the elements. */
  get byteLength(): number {
    return this.size * dtypeBytes(this.dtype);
  }

  /** Bytes rounded up to a multiple of 4 (what bindings and copies use). */
  get paddedBytes(): number {
    return Math.max(4, Math.ceil(this.byteLength / 4) * 4);
  }

  /** True once disposed. */
  get disposed(): boolean {
    return this.#storage === null;
  }

  /** The storage binding of this tensor. */
  binding(): GPUBufferBinding {
    return { buffer: this.buffer, offset: this.offset, size: this.paddedBytes };
  }

  /** Overwrites the contents with host data. */
  write(data: ArrayLike<number>): void {
    if (data.length !== this.size) {
      throw new ShapeError(
        `Tensor.write: ${data.length} values for shape ${
          formatShape(this.shape)
        } (${this.size} elements)`,
      );
    }
    let bytes: ArrayBufferView;
    switch (this.dtype) {
      case "f32":
        bytes = data instanceof Float32Array ? data : Float32Array.from(data);
        break;
      case "i32":
        bytes = data instanceof Int32Array ? data : Int32Array.from(data);
        break;
      case "u32":
        bytes = data instanceof Uint32Array ? data : Uint32Array.from(data);
        break;
      case "f16":
        bytes = encodeHalf(data);
        break;
    }
    this.gpu.write(this.buffer, this.offset, bytes);
  }

  /** Reads the contents back to the host (f16 is widened to f32). */
  async read(): Promise<Float32Array | Int32Array | Uint32Array> {
    const raw = await this.gpu.read(this.buffer, this.offset, this.paddedBytes);
    switch (this.dtype) {
      case "f32":
        return new Float32Array(raw, 0, this.size);
      case "i32":
        return new Int32Array(raw, 0, this.size);
      case "u32":
        return new Uint32Array(raw, 0, this.size);
      case "f16":
        return decodeHalf(new Uint16Array(raw, 0, this.size));
    }
  }

  /** Reads an f32/f16 tensor as floats; throws on integer tensors. */
  async readFloat(): Promise<Float32Array> {
    if (this.dtype === "i32" || this.dtype === "u32") {
      throw new ShapeError(
        `readFloat on a ${this.dtype} tensor of shape ${formatShape(this.shape)}`,
      );
    }
    return await this.read() as Float32Array;
  }

  /** A view with another shape of the same size (no copy). Dispose it like any tensor. */
  reshape(shape: readonly number[]): Tensor {
    const s = [...shape];
    const infer = s.indexOf(-1);
    if (infer >= 0) {
      const rest = numel(s.filter((_, i) => i !== infer));
      s[infer] = rest === 0 ? 0 : this.size / rest;
    }
    checkShape(s);
    if (numel(s) !== this.size) {
      throw new ShapeError(`cannot reshape ${formatShape(this.shape)} to ${formatShape(shape)}`);
    }
    return this.#view(s, this.offset);
  }

  /**
   * A view of rows [start, end) along the first axis (no copy). The byte offset must satisfy
   * the adapter's storage-offset alignment (256 bytes on most), else this throws.
   */
  rows(start: number, end: number): Tensor {
    const n = this.shape[0];
    if (!(0 <= start && start <= end && end <= n)) {
      throw new ShapeError(
        `rows(${start}, ${end}) out of range for shape ${formatShape(this.shape)}`,
      );
    }
    const rowBytes = (this.size / n) * dtypeBytes(this.dtype);
    const offset = this.offset + start * rowBytes;
    const align = this.gpu.device.limits.minStorageBufferOffsetAlignment;
    if (offset % align !== 0) {
      throw new ShapeError(
        `rows(${start}, ${end}) of ${formatShape(this.shape)} starts at byte ${offset}, ` +
          `not a multiple of the adapter's ${align}-byte alignment; copy the rows instead`,
      );
    }
    return this.#view([end - start, ...this.shape.slice(1)], offset);
  }

  #view(shape: readonly number[], offset: number): Tensor {
    const storage = this.#storage;
    if (!storage) throw new ShapeError("tensor used after dispose()");
    storage.refs++;
    return new Tensor(this.gpu, storage, shape, this.dtype, offset);
  }

  /** A new tensor with a copy of the contents. */
  clone(): Tensor {
    const t = Tensor.empty(this.gpu, this.shape, this.dtype);
    this.gpu.copy(this.buffer, this.offset, t.buffer, 0, this.paddedBytes);
    return t;
  }

  /** Hands the buffer back to the pool once no view uses it. Safe to call twice. */
  dispose(): void {
    if (!this.#storage) return;
    this.#storage.release();
    this.#storage = null;
    liveTensors--;
  }

  /** Same as `dispose()`, for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Throws a ShapeError unless the shape matches (use -1 as a wildcard). */
  expectShape(expected: readonly number[], what = "tensor"): void {
    const ok = expected.length === this.shape.length &&
      expected.every((d, i) => d === -1 || d === this.shape[i]);
    if (!ok) {
      throw new ShapeError(
        `${what}: expected shape ${formatShape(expected)}, got ${formatShape(this.shape)}`,
      );
    }
  }

  /** Throws a ShapeError unless the dtype matches. */
  expectDtype(dtype: DType | readonly DType[], what = "tensor"): void {
    const ok = typeof dtype === "string" ? this.dtype === dtype : dtype.includes(this.dtype);
    if (!ok) {
      throw new ShapeError(
        `${what}: expected dtype ${dtype}, got ${this.dtype} (shape ${formatShape(this.shape)})`,
      );
    }
  }
}
