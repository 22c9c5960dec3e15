/**
 * Float64 analytic backward of LayerNorm without bias, with optional adaLN modulate
 * y = x̂ ⊙ w ⊙ (1 + scale[b]) + shift[b], x̂ = (x − μ)/sqrt(v + eps). Written as the textbook
 * chain rule through μ and v (not the kernel's folded formula), so it checks that rewrite too.
 * @module
 */
import { chunkAt, type HostChunk } from "../modulate/modulate_ref.ts";

/** Gradients; dshift/dscale are `[batch, d]` and present only when modulated. */
export interface LayerNormGradsRef {
  dx: Float64Array;
  dw: Float64Array;
  dshift?: Float64Array;
  dscale?: Float64Array;
}

/** x, dy: `[rows, d]` flattened; `mod` as in `layerNormRef` (its shift is not needed). */
export function layerNormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  width: number,
  eps = 1e-5,
  mod: { scale: HostChunk; batch: number } | null = null,
): LayerNormGradsRef {
  const rows = x.length / width;
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(width);
  const batch = mod ? mod.batch : 1;
  const dshift = new Float64Array(batch * width);
  const dscale = new Float64Array(batch * width);
  const c = new Float64Array(width);
  const gxh = new Float64Array(width);
  for (let r = 0; r < rows; r++) {
    const b = mod ? Math.floor(r / (rows / batch)) : 0;
    let mean = 0;
    for (let j = 0; j < width; j++) mean += x[r * width + j];
    mean /= width;
    let v = 0;
    for (let j = 0; j < width; j++) {
      c[j] = x[r * width + j] - mean;
      v += c[j] ** 2;
    }
    v /= width;
    const rstd = 1 / Math.sqrt(v + eps);
    // Through x̂_j = c_j · rstd: ∂L/∂v = Σ_j gx̂_j · c_j · (−½)(v + eps)^(−3/2),
    // ∂L/∂c_j = gx̂_j · rstd + ∂L/∂v · 2c_j/d, and ∂L/∂x_j = ∂L/∂c_j − mean_k ∂L/∂c_k.
    let dv = 0;
    for (let j = 0; j < width; j++) {
      const i = r * width + j;
      const xh = c[j] * rstd;
      const g = dy[i] * (mod ? 1 + chunkAt(mod.scale, width, b, j) : 1);
      gxh[j] = g * weight[j];
      dw[j] += g * xh;
      dshift[b * width + j] += dy[i];
      dscale[b * width + j] += dy[i] * xh * weight[j];
      dv += gxh[j] * c[j] * -0.5 * rstd ** 3;
    }
    let meanDc = 0;
    for (let j = 0; j < width; j++) {
      c[j] = gxh[j] * rstd + (dv * 2 * c[j]) / width;
      meanDc += c[j];
    }
    meanDc /= width;
    for (let j = 0; j < width; j++) dx[r * width + j] = c[j] - meanDc;
  }
  return mod ? { dx, dw, dshift, dscale } : { dx, dw };
}
