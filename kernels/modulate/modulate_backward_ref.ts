/**
 * Float64 analytic backward of adaLN modulate y = x ⊙ (1 + scale[b]) + shift[b]:
 * dx = dy ⊙ (1 + scale[b]), dshift[b] = Σ_s dy, dscale[b] = Σ_s dy ⊙ x.
 * @module
 */
import { chunkAt, type HostChunk } from "./modulate_ref.ts";

/** Gradients with dshift/dscale as `[batch, d]` arrays. */
export interface ModulateGradsRef {
  dx: Float64Array;
  dshift: Float64Array;
  dscale: Float64Array;
}

/** x, dy: `[B·S, d]` flattened; `batch` is the modulation's B (rows split evenly over it). */
export function modulateBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  scale: HostChunk,
  batch: number,
  width: number,
): ModulateGradsRef {
  const dx = new Float64Array(x.length);
  const dshift = new Float64Array(batch * width);
  const dscale = new Float64Array(batch * width);
  const rows = x.length / width;
  const perBatch = rows / batch;
  for (let r = 0; r < rows; r++) {
    const b = Math.floor(r / perBatch);
    for (let j = 0; j < width; j++) {
      const i = r * width + j;
      dx[i] = dy[i] * (1 + chunkAt(scale, width, b, j));
      dshift[b * width + j] += dy[i];
      dscale[b * width + j] += dy[i] * x[i];
    }
  }
  return { dx, dshift, dscale };
}
