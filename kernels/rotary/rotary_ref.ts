/**
 * Float64 reference of rotary position embedding on qkv `[B, S, 3d]` (docs/design.md, "Rotary"):
 * rotate-half pairs (j, j + D/2) of every q and k head. θ is formed with the reference's f32
 * arithmetic (inv_freq and p · inv_freq rounded to f32, written out here independently of the
 * launcher); cos, sin and the rotation itself are float64.
 * @module
 */
const f32 = Math.fround;

/** θ[p, j] as the reference computes it in f32. */
export function rotaryTheta(p: number, j: number, headDim: number, base = 10000): number {
  const exponent = f32(f32(2 * j) / f32(headDim));
  const invFreq = f32(1 / f32(base ** exponent));
  return f32(f32(p) * invFreq);
}

/**
 * Returns a rotated copy of qkv; row s of every batch gets `positionOf(s)`.
 * @param qkv flattened `[B, S, 3d]`
 */
export function rotaryRef(
  qkv: ArrayLike<number>,
  batch: number,
  seq: number,
  width: number,
  headDim: number,
  positionOf: (s: number) => number,
): Float64Array {
  const out = Float64Array.from(qkv);
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
            out[base + j] = a * c - e * sn;
            out[base + j + half] = e * c + a * sn;
          }
        }
      }
    }
  }
  return out;
}
