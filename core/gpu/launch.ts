/**
 * Small helpers every kernel launcher uses: uniform packing and grids that stay under the
 * 65535-workgroups-per-dimension limit.
 * @module
 */

/** Packs uniform fields in order, 4 bytes each (WGSL u32 / i32 / f32 struct members). */
export class Uniforms {
  readonly #view = new DataView(new ArrayBuffer(256));
  #at = 0;
  /** Appends a u32. */
  u32(v: number): this {
    this.#view.setUint32(this.#at, v >>> 0, true);
    this.#at += 4;
    return this;
  }
  /** Appends an i32. */
  i32(v: number): this {
    this.#view.setInt32(this.#at, v | 0, true);
    this.#at += 4;
    return this;
  }
  /** Appends an f32. */
  f32(v: number): this {
    this.#view.setFloat32(this.#at, v, true);
    this.#at += 4;
    return this;
  }
  /** The packed bytes, padded to 16 (uniform structs are 16-byte aligned). */
  bytes(): Uint8Array {
    return new Uint8Array(this.#view.buffer, 0, Math.max(16, Math.ceil(this.#at / 16) * 16));
  }
}

/**
 * Workgroup counts for `total` invocations in groups of `groupSize`, spread over x and y
 * when x alone would pass `maxPerDim`. Kernels recover the linear workgroup index as
 * `wid.x + wid.y * nwg.x` (with `@builtin(num_workgroups) nwg`) and skip indices ≥ total.
 */
export function grid1d(total: number, groupSize: number, maxPerDim = 65535): [number, number] {
  const groups = Math.ceil(total / groupSize);
  if (groups <= maxPerDim) return [groups, 1];
  const y = Math.ceil(groups / maxPerDim);
  return [Math.ceil(groups / y), y];
}
