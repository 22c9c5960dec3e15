/**
 * Float64 reference of LayerNorm without bias, with optional adaLN modulate:
 * y = (x − μ) / sqrt(v + eps) ⊙ w, then y ⊙ (1 + scale[b]) + shift[b].
 * @module
 */
import { chunkAt, type HostChunk } from "../modulate/modulate_ref.ts";

/** x: `[rows, d]` flattened; `mod` (if given) has batch `batch`, rows split evenly over it. */
export function layerNormRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  width: number,
  eps = 1e-5,
  mod: { shift: HostChunk; scale: HostChunk; batch: number } | null = null,
): Float64Array {
  const out = new Float64Array(x.length);
  const rows = x.length / width;
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let j = 0; j < width; j++) mean += x[r * width + j];
    mean /= width;
    let v = 0;
    for (let j = 0; j < width; j++) v += (x[r * width + j] - mean) ** 2;
    v /= width;
    const rstd = 1 / Math.sqrt(v + eps);
    const b = mod ? Math.floor(r / (rows / mod.batch)) : 0;
    for (let j = 0; j < width; j++) {
      let y = (x[r * width + j] - mean) * rstd * weight[j];
      if (mod) y = y * (1 + chunkAt(mod.scale, width, b, j)) + chunkAt(mod.shift, width, b, j);
      out[r * width + j] = y;
    }
  }
  return out;
}
