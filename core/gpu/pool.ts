/**
 * A pool of GPU buffers bucketed by size, so a steady-state loop (a training step, a
 * sampling step) allocates no new GPU memory: every buffer it frees is reused by the
 * next request of the same bucket.
 * @module
 */

/** Usage flags of every tensor buffer: readable, writable, and copyable both ways. */
export const TENSOR_USAGE: number = 0x80 /* STORAGE */ | 0x04 /* COPY_SRC */ | 0x08 /* COPY_DST */;
/** Usage flags of readback staging buffers. */
export const READBACK_USAGE: number = 0x01 /* MAP_READ */ | 0x08 /* COPY_DST */;

/** Live-memory figures of a pool (what a memory-growth test reads). */
export interface PoolStats {
  /** Buffers created and not destroyed (in use + idle in the pool). */
  liveBuffers: number;
  /** Bytes of those buffers. */
  liveBytes: number;
  /** Buffers currently handed out. */
  inUse: number;
  /** Buffers ever created by this pool. */
  created: number;
}

/**
 * Rounds a byte size up to its bucket: 256-byte granularity below 4 KiB, then four buckets
 * per power of two (at most 25 % slack), which keeps reuse high for shapes that vary a bit.
 */
export function bucketSize(bytes: number): number {
  const b = Math.max(256, Math.ceil(bytes));
  if (b <= 4096) return Math.ceil(b / 256) * 256;
  const p = 2 ** Math.floor(Math.log2(b));
  const step = p / 4;
  return Math.ceil(b / step) * step;
}

/** Buffer pool over one device. */
export class BufferPool {
  readonly #device: GPUDevice;
  readonly #idle = new Map<string, GPUBuffer[]>();
  readonly #sizes = new WeakMap<GPUBuffer, number>();
  #live = 0;
  #liveBytes = 0;
  #inUse = 0;
  #created = 0;

  /** A pool allocating from `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Takes a buffer of at least `bytes` bytes with the given usage, reusing an idle one. */
  acquire(bytes: number, usage: number = TENSOR_USAGE, label?: string): GPUBuffer {
    const size = bucketSize(bytes);
    const key = `${usage}:${size}`;
    const list = this.#idle.get(key);
    this.#inUse++;
    const reused = list?.pop();
    if (reused) return reused;
    const buffer = this.#device.createBuffer({ size, usage, label: label ?? `pool ${size}B` });
    this.#sizes.set(buffer, size);
    this.#live++;
    this.#liveBytes += size;
    this.#created++;
    return buffer;
  }

  /** Returns a buffer to the pool for reuse. */
  release(buffer: GPUBuffer): void {
    const size = this.#sizes.get(buffer);
    if (size === undefined) {
      throw new Error("BufferPool.release: buffer does not belong to this pool");
    }
    this.#inUse--;
    const key = `${buffer.usage}:${size}`;
    let list = this.#idle.get(key);
    if (!list) this.#idle.set(key, list = []);
    list.push(buffer);
  }

  /** Destroys every idle buffer (frees GPU memory; in-use buffers are untouched). */
  trim(): void {
    for (const list of this.#idle.values()) {
      for (const b of list) {
        this.#live--;
        this.#liveBytes -= this.#sizes.get(b) ?? 0;
        b.destroy();
      }
    }
    this.#idle.clear();
  }

  /** Current figures. */
  stats(): PoolStats {
    return {
      liveBuffers: this.#live,
      liveBytes: this.#liveBytes,
      inUse: this.#inUse,
      created: this.#created,
    };
  }
}
