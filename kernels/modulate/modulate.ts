/**
 * adaLN modulate `x ⊙ (1 + scale) + shift` with shift and scale taken as chunks of an adaLN
 * modulation tensor and broadcast over the sequence (docs/design.md, "adaLN conditioning").
 * LayerNorm fuses the same step (`layerNorm(..., { shift, scale })`); this kernel is for the places
 * where it is not fused. Also defines `ModChunk`, the strided view both kernels take.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import src from "./modulate.wgsl" with { type: "text" };

const WG = 256;

/**
 * A `[B, d]` view into an adaLN modulation tensor `[B, n·d]`: chunk `chunk` holds features
 * `chunk·d … chunk·d + d − 1` of every row. Block order: 0 shift_msa, 1 scale_msa,
 * 2 gate_msa, 3 shift_mlp, 4 scale_mlp, 5 gate_mlp; final layer: 0 shift, 1 scale.
 * A plain `[B, d]` tensor is chunk 0 of itself. B may be 1 to use one vector for every batch.
 */
export interface ModChunk {
  /** The modulation tensor, f32 `[B, n·d]`. */
  tensor: Tensor;
  /** Which d-wide chunk of each row (0-based). */
  chunk: number;
}

/** Where a chunk's elements live: element j of batch b is `b * stride + offset + j`. */
export interface ResolvedChunk {
  /** Batch size of the modulation tensor. */
  batch: number;
  /** Elements per modulation row. */
  stride: number;
  /** Element offset of the chunk within a row. */
  offset: number;
}

/**
 * Checks that `c` is a valid d-wide chunk and returns its addressing. Throws `ShapeError`
 * naming the modulation shape when the chunk does not fit.
 */
export function resolveChunk(c: ModChunk, width: number, what: string): ResolvedChunk {
  c.tensor.expectDtype("f32", what);
  const shape = c.tensor.shape;
  if (shape.length !== 2) {
    throw new ShapeError(`${what}: modulation must be [B, n·d], got ${formatShape(shape)}`);
  }
  const [batch, stride] = shape;
  if (!Number.isInteger(c.chunk) || c.chunk < 0 || (c.chunk + 1) * width > stride) {
    throw new ShapeError(
      `${what}: chunk ${c.chunk} of width ${width} does not fit modulation ${formatShape(shape)}`,
    );
  }
  return { batch, stride, offset: c.chunk * width };
}

/**
 * Rows per modulation batch of `x` (`S` for x `[B, S, d]`), after checking that shift and
 * scale have the same batch size and that it fits x: for x of rank ≥ 3 it must be 1 or x's
 * first axis; for a flat `[rows, d]` x it must divide the rows.
 */
export function rowsPerBatch(
  x: Tensor,
  width: number,
  shift: ResolvedChunk,
  scale: ResolvedChunk,
  what: string,
): number {
  if (shift.batch !== scale.batch) {
    throw new ShapeError(
      `${what}: shift batch ${shift.batch} and scale batch ${scale.batch} differ`,
    );
  }
  const batch = shift.batch;
  const rows = x.size / width;
  const fits = x.shape.length >= 3
    ? batch === 1 || batch === x.shape[0]
    : batch > 0 && rows % batch === 0;
  if (!fits) {
    throw new ShapeError(
      `${what}: modulation batch ${batch} does not fit x ${formatShape(x.shape)} ` +
        "(it must be 1 or x's batch)",
    );
  }
  return rows / batch;
}

/** True when two tensors share a buffer and their byte ranges overlap. */
export function overlaps(a: Tensor, b: Tensor): boolean {
  return a.buffer === b.buffer && a.offset < b.offset + b.byteLength &&
    b.offset < a.offset + a.byteLength;
}

/** True when `out` is exactly `x`'s storage (same buffer, offset and size): an in-place call. */
export function sameStorage(x: Tensor, out: Tensor): boolean {
  return x.buffer === out.buffer && x.offset === out.offset && x.byteLength === out.byteLength;
}

/**
 * Returns `x[b, s] ⊙ (1 + scale[b]) + shift[b]` for x `[B, S, d]` (any shape whose last axis
 * is d and whose rows split evenly over the modulation batch).
 * @param x f32 input; its last axis is d
 * @param shift chunk of the modulation tensor added after scaling
 * @param scale chunk of the modulation tensor; the kernel multiplies by `1 + scale`
 * @param out optional output of x's size; pass `x` itself to modulate in place
 */
export function modulate(x: Tensor, shift: ModChunk, scale: ModChunk, out?: Tensor): Tensor {
  const gpu: Gpu = x.gpu;
  x.expectDtype("f32", "modulate x");
  const width = x.shape[x.shape.length - 1] ?? 1;
  const sh = resolveChunk(shift, width, "modulate shift");
  const sc = resolveChunk(scale, width, "modulate scale");
  const perBatch = width === 0 ? 0 : rowsPerBatch(x, width, sh, sc, "modulate");
  const result = out ?? Tensor.empty(gpu, x.shape);
  result.expectDtype("f32", "modulate out");
  if (result.size !== x.size) {
    throw new ShapeError(
      `modulate: out ${formatShape(result.shape)} does not match x ${formatShape(x.shape)}`,
    );
  }
  const inPlace = sameStorage(x, result);
  if (!inPlace && overlaps(x, result)) {
    throw new ShapeError("modulate: out partially overlaps x; pass x itself or a separate tensor");
  }
  const kernel = gpu.kernel({
    name: inPlace ? "modulate_inplace" : "modulate",
    code: src,
    params: { WG },
    entry: inPlace ? "main_inplace" : "main",
    bindings: inPlace
      ? ["uniform", "read", "read", "write"]
      : ["uniform", "read", "read", "read", "write"],
  });
  const u = new Uniforms().u32(x.size).u32(width).u32(perBatch)
    .u32(sh.stride).u32(sh.offset).u32(sc.stride).u32(sc.offset).u32(0);
  const resources = inPlace ? [shift.tensor, scale.tensor, result] : [
    shift.tensor,
    scale.tensor,
    x,
    result,
  ];
  gpu.dispatch(kernel, resources, u.bytes(), grid1d(x.size, WG));
  return result;
}
