/**
 * Float64 analytic backward of rotary position embedding on qkv `[B, S, 3d]`: each q/k pair
 * (j, j + D/2) is rotated by θ in the forward, so its gradient is rotated by −θ (the transpose
 * of a rotation); v's gradient passes through.
 * @module
 */
import { rotaryRef } from "./rotary_ref.ts";

/**
 * Returns dqkv = R(θ)ᵀ · dy for every q and k pair; row s of every batch has `positionOf(s)`.
 * The forward reference at the negated positions is exactly that: θ(−p) = −θ(p), since θ is
 * the product p · inv_freq and rounding is symmetric in sign.
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
  return rotaryRef(dy, batch, seq, width, headDim, (s) => -positionOf(s));
}
