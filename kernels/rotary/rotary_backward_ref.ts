/**
 * Float64 analytic backward of rotary position embedding on qkv `[B, S, 3d]`: each q/k pair
 * (j, j + D/2) is rotated by θ in the forward, so its gradient is rotated by −θ (the transpose
 * of a rotation); v's gradient passes through.
 * @module
 */
import { rotaryTheta } from "./rotary_ref.ts";

/**
 * Returns dqkv = R(θ)ᵀ · dy for every q and k pair; row s of every batch has `positionOf(s)`.
 * @param dy flattened `[B, S, 3d]` gradient of the rotated qkv
 */
export function rotaryBackwardRef(
  dy: ArrayLike<number>,
  batch: number,
  seq: number,
  width: number,
  headDim: number,
  positionOf: (s: number) => number,
): Float64Array {
  const out = Float64Array.from(dy);
  const half = headDim / 2;
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seq; s++) {
      const pos = positionOf(s);
      const row = (b * seq + s) * 3 * width;
      for (let slot = 0; slot < 2; slot++) {
        for (let h = 0; h < width / headDim; h++) {
          const base = row + slot * width + h * headDim;
          for (let j = 0; j < half; j++) {
            const theta = rotaryTheta(pos, j, headDim);
            const c = Math.cos(theta), sn = Math.sin(theta);
            const a = out[base + j], e = out[base + j + half];
            // Transpose of [[c, −s], [s, c]].
            out[base + j] = a * c + e * sn;
            out[base + j + half] = e * c - a * sn;
          }
        }
      }
    }
  }
  return out;
}
