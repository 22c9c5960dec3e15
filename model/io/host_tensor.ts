/**
 * Host-side tensors: a typed array plus a shape, the unit that checkpoint files are read into and
 * written from. Floating-point data is always f32 in memory (f16 / bf16 files are widened on
 * load and narrowed on save).
 * @module
 */
import { formatShape, ShapeError } from "@blockdiff/core";

/** In-memory element type of a {@linkcode HostTensor}. */
export type HostDtype = "f32" | "i32" | "i64" | "u8" | "bool";

/** Typed array backing a {@linkcode HostTensor}. */
export type HostTensorData = Float32Array | Int32Array | BigInt64Array | Uint8Array;

/** A dense row-major tensor held in CPU memory. */
export interface HostTensor {
  /** Element type; decides which typed array `data` is. */
  readonly dtype: HostDtype;
  /** Dimensions, outermost first; `[]` is a scalar with one element. */
  readonly shape: readonly number[];
  /** The elements, row-major, length = product of `shape`. */
  readonly data: HostTensorData;
}

/** A set of named tensors, as stored in one checkpoint file. */
export type TensorMap = Map<string, HostTensor>;

/** Number of elements of `shape` (1 for a scalar). Throws past 2^53. */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new ShapeError(`bad dimension ${d}`);
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER) throw new ShapeError(`shape ${formatShape(shape)} too large`);
  }
  return n;
}

/**
 * Makes an f32 host tensor of `shape`, zero-filled or copied from `values`.
 *
 * @example
 * ```ts
 * import { f32Tensor } from "@blockdiff/model/io";
 * const t = f32Tensor([2, 2], [1, 2, 3, 4]);
 * console.log(t.data[3]); // 4
 * ```
 */
export function f32Tensor(shape: readonly number[], values?: ArrayLike<number>): HostTensor {
  const n = shapeSize(shape);
  if (values !== undefined && values.length !== n) {
    throw new ShapeError(`${values.length} values do not fill shape ${formatShape(shape)}`);
  }
  const data = new Float32Array(n);
  if (values) data.set(values);
  return { dtype: "f32", shape: [...shape], data };
}

/** The typed-array constructor name expected for each dtype (for error messages). */
const EXPECTED_ARRAY: Record<HostDtype, string> = {
  f32: "Float32Array",
  i32: "Int32Array",
  i64: "BigInt64Array",
  u8: "Uint8Array",
  bool: "Uint8Array",
};

/** Checks that `t.data` has the array type of `t.dtype` and the length of `t.shape`. */
export function checkHostTensor(t: HostTensor, label: string): void {
  const okType = (t.dtype === "f32" && t.data instanceof Float32Array) ||
    (t.dtype === "i32" && t.data instanceof Int32Array) ||
    (t.dtype === "i64" && t.data instanceof BigInt64Array) ||
    ((t.dtype === "u8" || t.dtype === "bool") && t.data instanceof Uint8Array);
  if (!okType) {
    throw new ShapeError(
      `${label}: dtype ${t.dtype} needs a ${EXPECTED_ARRAY[t.dtype] ?? "known typed array"}, ` +
        `got ${t.data?.constructor?.name}`,
    );
  }
  const n = shapeSize(t.shape);
  if (t.data.length !== n) {
    throw new ShapeError(
      `${label}: shape ${formatShape(t.shape)} needs ${n} elements, data has ${t.data.length}`,
    );
  }
}
