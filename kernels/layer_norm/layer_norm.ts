/**
 * LayerNorm without bias (eps 1e-5, biased variance, weight only), optionally fused
 * with the adaLN modulate that follows it in every DiT block and in the final layer, or with
 * a bias (GPT-2's LayerNorm, used by the generative-perplexity scorer).
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import { type ModChunk, overlaps, resolveChunk, rowsPerBatch } from "../modulate/modulate.ts";
import src from "./layer_norm.wgsl" with { type: "text" };

/** The LayerNorm epsilon of the reference. */
export const LAYER_NORM_EPS = 1e-5;

/** Options of `layerNorm`. */
export interface LayerNormOptions {
  /** adaLN shift added after the scale (e.g. `{ tensor: mod, chunk: 0 }` for shift_msa). */
  shift?: ModChunk;
  /** adaLN scale; the output is multiplied by `1 + scale` (e.g. chunk 1 for scale_msa). */
  scale?: ModChunk;
  /** Bias `[d]` added after the weight (GPT-2); not combined with `shift` / `scale`. */
  bias?: Tensor;
  /** Epsilon added to the variance; `LAYER_NORM_EPS` when omitted. */
  eps?: number;
  /** Output tensor of x's size. It must not overlap x (the row is read three times). */
  out?: Tensor;
}

/**
 * Workgroup size for a row of `width`: one lane per element up to 256, but at least 32 so tiny
 * rows still fill a SIMD group, and a power of two for the tree reduction.
 */
function workgroupSize(width: number): number {
  let wg = 32;
  while (wg < width && wg < 256) wg *= 2;
  return wg;
}

/**
 * Returns `LN(x) ⊙ w`, or `LN(x) ⊙ w ⊙ (1 + scale[b]) + shift[b]` when `shift` and `scale`
 * are given (both or neither), or `LN(x) ⊙ w + bias` with `bias`, over the last axis of x.
 * @param x f32 `[B, S, d]` (or any shape with last axis d; see `ModChunk` for the batch rule)
 * @param weight f32 `[d]`
 * @param options modulation chunks, eps and output
 */
export function layerNorm(x: Tensor, weight: Tensor, options: LayerNormOptions = {}): Tensor {
  const gpu: Gpu = x.gpu;
  x.expectDtype("f32", "layerNorm x");
  weight.expectDtype("f32", "layerNorm weight");
  const width = x.shape[x.shape.length - 1] ?? 1;
  if (weight.shape.length !== 1 || weight.shape[0] !== width) {
    throw new ShapeError(
      `layerNorm: weight ${formatShape(weight.shape)} does not match x ${formatShape(x.shape)}`,
    );
  }
  const { shift, scale } = options;
  if (Boolean(shift) !== Boolean(scale)) {
    throw new ShapeError("layerNorm: give both shift and scale, or neither");
  }
  const bias = options.bias;
  if (bias) {
    bias.expectDtype("f32", "layerNorm bias");
    if (shift) throw new ShapeError("layerNorm: give a bias or adaLN shift/scale, not both");
    if (bias.shape.length !== 1 || bias.shape[0] !== width) {
      throw new ShapeError(
        `layerNorm: bias ${formatShape(bias.shape)} does not match x ${formatShape(x.shape)}`,
      );
    }
  }
  const rows = width === 0 ? 0 : x.size / width;
  let u: Uniforms;
  if (shift && scale) {
    const sh = resolveChunk(shift, width, "layerNorm shift");
    const sc = resolveChunk(scale, width, "layerNorm scale");
    const perBatch = rows === 0 ? 1 : rowsPerBatch(x, width, sh, sc, "layerNorm");
    u = new Uniforms().u32(rows).u32(width).u32(perBatch)
      .u32(sh.stride).u32(sh.offset).u32(sc.stride).u32(sc.offset);
  } else {
    u = new Uniforms().u32(rows).u32(width).u32(Math.max(rows, 1)).u32(0).u32(0).u32(0).u32(0);
  }
  u.f32(options.eps ?? LAYER_NORM_EPS);

  const result = options.out ?? Tensor.empty(gpu, x.shape);
  result.expectDtype("f32", "layerNorm out");
  if (result.size !== x.size) {
    throw new ShapeError(
      `layerNorm: out ${formatShape(result.shape)} does not match x ${formatShape(x.shape)}`,
    );
  }
  if (overlaps(x, result)) {
    throw new ShapeError("layerNorm: out overlaps x; in-place LayerNorm is not supported");
  }
  const WG = workgroupSize(width);
  const kernel = gpu.kernel({
    name: "layer_norm",
    code: src,
    params: { WG, HAS_MOD: Boolean(shift), HAS_BIAS: Boolean(bias) },
    bindings: ["uniform", "read", "read", "read", "read", "write"],
  });
  // Without modulation the shift/scale bindings are unused; bind the weight as a stand-in. A
  // bias takes the shift slot (the two never come together).
  const resources = [weight, shift?.tensor ?? bias ?? weight, scale?.tensor ?? weight, x, result];
  gpu.dispatch(kernel, resources, u.bytes(), grid1d(rows, 1));
  return result;
}
