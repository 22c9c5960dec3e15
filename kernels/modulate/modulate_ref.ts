/**
 * Float64 reference of adaLN modulate: out = x ⊙ (1 + scale[b]) + shift[b], where shift and
 * scale are chunks of modulation rows `[B, n·d]` and b = row div (rows / B).
 * @module
 */

/** A chunk of a host modulation array `[B, stride]`: features `chunk·d …` of each row. */
export interface HostChunk {
  /** The modulation rows, flattened. */
  data: ArrayLike<number>;
  /** Elements per modulation row (n·d). */
  stride: number;
  /** Chunk index. */
  chunk: number;
}

/** Element j of batch b of a chunk of width d. */
export function chunkAt(c: HostChunk, width: number, b: number, j: number): number {
  return c.data[b * c.stride + c.chunk * width + j];
}

/** x: `[B·S, d]` flattened; `batch` is the modulation's B (rows are split evenly over it). */
export function modulateRef(
  x: ArrayLike<number>,
  shift: HostChunk,
  scale: HostChunk,
  batch: number,
  width: number,
): Float64Array {
  const out = new Float64Array(x.length);
  const rows = x.length / width;
  const perBatch = rows / batch;
  for (let r = 0; r < rows; r++) {
    const b = Math.floor(r / perBatch);
    for (let j = 0; j < width; j++) {
      const i = r * width + j;
      out[i] = x[i] * (1 + chunkAt(scale, width, b, j)) + chunkAt(shift, width, b, j);
    }
  }
  return out;
}
