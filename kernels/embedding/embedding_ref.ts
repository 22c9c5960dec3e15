/**
 * Float64 references of the token embedding gather and the sinusoidal timestep features.
 * @module
 */
const f32 = Math.fround;

/** Rows of `table` ([V, d] flattened) picked by `ids`; NaN rows for ids outside [0, V). */
export function embeddingRef(
  ids: ArrayLike<number>,
  table: ArrayLike<number>,
  vocab: number,
  width: number,
): Float64Array {
  const out = new Float64Array(ids.length * width);
  for (let r = 0; r < ids.length; r++) {
    const id = ids[r];
    for (let j = 0; j < width; j++) {
      out[r * width + j] = id >= 0 && id < vocab ? table[id * width + j] : NaN;
    }
  }
  return out;
}

/**
 * `[cos(σ·ω_j)…, sin(σ·ω_j)…]` for each σ, half = 128. ω and σ·ω follow the reference's f32
 * rounding (written out here independently of the launcher); cos and sin are float64.
 */
export function timestepRef(sigma: ArrayLike<number>, half = 128): Float64Array {
  const out = new Float64Array(sigma.length * 2 * half);
  const c = f32(-Math.log(10000));
  for (let b = 0; b < sigma.length; b++) {
    for (let j = 0; j < half; j++) {
      const omega = f32(Math.exp(f32(f32(c * j) / half)));
      const arg = f32(f32(sigma[b]) * omega);
      out[b * 2 * half + j] = Math.cos(arg);
      out[b * 2 * half + half + j] = Math.sin(arg);
    }
  }
  return out;
}
