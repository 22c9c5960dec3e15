/**
 * Float64 reference of the KV cache as the reference computes it: raw, pre-rotary keys and
 * values in a window of W rows, a committed length p, the left shift by b when the window is
 * full, and rotary re-applied to every cached key with window-relative positions 0 … P−1.
 * @module
 */

/** Rotary inverse frequencies of the reference, computed in f32 as the reference does. */
export function invFreqRef(headDim: number): number[] {
  return Array.from(
    { length: headDim / 2 },
    (_, j) => Math.fround(1 / Math.fround(10000 ** Math.fround((2 * j) / headDim))),
  );
}

/**
 * Rotate-half rotary of one position's heads (`x` holds H·D values, heads head-major) at
 * position `pos`, in float64: y_i = x_i cos θ_i − x_{i+D/2} sin θ_i, y_{i+D/2} = x_{i+D/2} cos θ_i + x_i sin θ_i.
 */
export function rotateRef(x: ArrayLike<number>, headDim: number, pos: number): Float64Array {
  const inv = invFreqRef(headDim);
  const half = headDim / 2;
  const y = new Float64Array(x.length);
  for (let h = 0; h < x.length / headDim; h++) {
    for (let j = 0; j < half; j++) {
      const a = h * headDim + j;
      const c = Math.cos(pos * inv[j]);
      const s = Math.sin(pos * inv[j]);
      y[a] = x[a] * c - x[a + half] * s;
      y[a + half] = x[a + half] * c + x[a] * s;
    }
  }
  return y;
}

/** The reference's cache for one batch row: raw rows, committed length, slide by b when full. */
export class KvCacheRef {
  readonly rawK: number[][] = [];
  readonly rawV: number[][] = [];
  p = 0;

  constructor(readonly capacity: number, readonly headDim: number) {}

  /** Writes the block's raw (pre-rotary) keys and values at [p, p + n). */
  write(k: number[][], v: number[][]): void {
    this.rawK.length = this.p;
    this.rawV.length = this.p;
    this.rawK.push(...k);
    this.rawV.push(...v);
  }

  /** p += b; if p ≥ W: p = W − b, dropping the oldest b rows. */
  commit(b: number): void {
    this.p += b;
    if (this.p >= this.capacity) {
      this.p = this.capacity - b;
      this.rawK.splice(0, b);
      this.rawV.splice(0, b);
    }
    this.rawK.length = this.p;
    this.rawV.length = this.p;
  }

  /** Keys of rows [0, n) rotated with window-relative positions 0 … n−1, and their values. */
  window(n: number): { k: Float64Array[]; v: number[][] } {
    return {
      k: this.rawK.slice(0, n).map((row, i) => rotateRef(row, this.headDim, i)),
      v: this.rawV.slice(0, n),
    };
  }
}
