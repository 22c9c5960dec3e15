/**
 * Per-layer KV cache for block-diffusion sampling (docs/design.md, "KV cache and sliding window").
 * Unlike the reference, which keeps raw (pre-rotary) qkv and re-applies rotary to the whole window
 * on every call, this cache keeps post-rotary keys, so a call only appends its block. When the
 * window slides, the kept keys are re-rotated by −shift positions in the same kernel that shifts
 * them, which reproduces the reference's window-relative positions.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import type { AttentionArgs, AttentionOperand } from "../attention/attention.ts";
import { rotaryInvFreq } from "../rotary/rotary.ts";
import src from "./kv_cache.wgsl" with { type: "text" };

const WG = 64;
const BINDINGS = ["read", "read", "write", "write", "read", "uniform"] as const;

/** Shape of a cache. */
export interface KvCacheOptions {
  /** Batch size B. */
  batch: number;
  /** Window W: the most positions the cache holds (1024 in the reference). */
  capacity: number;
  /** Number of heads H. */
  heads: number;
  /** Size of each head D (d = H·D). */
  headDim: number;
}

/**
 * Keys and values of one layer, `[B, W, d]` each, with a committed length p. Rows [0, p) are
 * committed clean blocks; the current block is written at [p, p + n) by `write` (repeatedly,
 * once per denoising step) and kept by `commit`.
 *
 * Positions: the current block's q and k must be rotated with positions p … p + n − 1
 * (`length` … `length + n − 1`) before `write`, which after a slide are window-relative, as
 * in the reference. `k` and `v` are different tensors after each slide (ping-pong): build
 * attention operands after `commit`, not before.
 */
export class KvCache {
  /** The device the cache lives on. */
  readonly gpu: Gpu;
  /** Batch size B. */
  readonly batch: number;
  /** Window W: the most positions held. */
  readonly capacity: number;
  /** Number of heads H. */
  readonly heads: number;
  /** Size of each head D. */
  readonly headDim: number;
  #k: Tensor;
  #v: Tensor;
  #spareK: Tensor | null = null;
  #spareV: Tensor | null = null;
  #length = 0;
  #pending = 0;
  readonly #committed: number[] = [];
  readonly #tables = new Map<number, Tensor>();

  /** Allocates an empty cache; throws ShapeError unless every option is an integer ≥ 1. */
  constructor(gpu: Gpu, opts: KvCacheOptions) {
    const { batch, capacity, heads, headDim } = opts;
    for (const [what, x] of Object.entries(opts)) {
      if (!Number.isInteger(x) || x < 1) {
        throw new ShapeError(`KvCache: ${what} must be an integer ≥ 1, got ${x}`);
      }
    }
    if (headDim % 2 !== 0) {
      throw new ShapeError(`KvCache: rotary needs an even head dim, got ${headDim}`);
    }
    this.gpu = gpu;
    this.batch = batch;
    this.capacity = capacity;
    this.heads = heads;
    this.headDim = headDim;
    this.#k = Tensor.empty(gpu, [batch, capacity, heads * headDim]);
    this.#v = Tensor.empty(gpu, [batch, capacity, heads * headDim]);
  }

  /** Cached keys `[B, W, d]` (post-rotary); rows past `length + pending` are stale. */
  get k(): Tensor {
    return this.#k;
  }

  /** Cached values `[B, W, d]`. */
  get v(): Tensor {
    return this.#v;
  }

  /** Committed positions p. */
  get length(): number {
    return this.#length;
  }

  /** Sizes of the committed blocks in the window, oldest first (they sum to `length`). */
  get blocks(): readonly number[] {
    return this.#committed.slice();
  }

  /** Rows of the current, not yet committed block (0 before the first write after a commit). */
  get pending(): number {
    return this.#pending;
  }

  /** Model width d = H·D. */
  get width(): number {
    return this.heads * this.headDim;
  }

  /**
   * Writes the current block's post-rotary keys and values (`rows` positions, from strided
   * views; head stride must be D) at [p, p + rows), replacing what an earlier denoising step
   * wrote there. Nothing is committed.
   */
  write(k: AttentionOperand, v: AttentionOperand, rows: number): void {
    const { batch, capacity, width } = this;
    if (!Number.isInteger(rows) || rows < 1 || this.#length + rows > capacity) {
      throw new ShapeError(
        `KvCache.write: ${rows} rows at position ${this.#length} do not fit the capacity ${capacity}`,
      );
    }
    for (const [name, op] of [["k", k], ["v", v]] as const) {
      op.tensor.expectDtype("f32", `KvCache.write ${name}`);
      if ((op.headStride ?? this.headDim) !== this.headDim) {
        throw new ShapeError(
          `KvCache.write ${name}: heads must be packed (head stride ${this.headDim})`,
        );
      }
      const last = (op.offset ?? 0) + (batch - 1) * op.batchStride + (rows - 1) * op.rowStride +
        width - 1;
      if (last >= op.tensor.size) {
        throw new ShapeError(
          `KvCache.write ${name}: a view of ${batch}×${rows} rows of width ${width} reaches element ${last}, ` +
            `past tensor ${formatShape(op.tensor.shape)}`,
        );
      }
    }
    const total = batch * rows * width;
    const u = new Uniforms().u32(total).u32(rows).u32(width).u32(capacity)
      .u32(this.#length).u32(0).u32(this.headDim).u32(0);
    for (const op of [k, v]) u.u32(op.offset ?? 0).u32(op.rowStride).u32(op.batchStride).u32(0);
    const kernel = this.gpu.kernel({
      name: "kv_write",
      code: src,
      entry: "write_rows",
      params: { WG },
      bindings: BINDINGS,
    });
    this.gpu.dispatch(
      kernel,
      [k.tensor, v.tensor, this.#k, this.#v, this.#table(0)],
      u.bytes(),
      grid1d(total, WG),
    );
    this.#pending = rows;
  }

  /** Writes the k and v slots of a post-rotary qkv projection `[B, n, 3d]` (n rows). */
  writeQkv(qkv: Tensor): void {
    qkv.expectShape([this.batch, -1, 3 * this.width], "KvCache.writeQkv qkv");
    const [, n, f] = qkv.shape;
    const view = (slot: number) => ({
      tensor: qkv,
      rowStride: f,
      batchStride: n * f,
      offset: slot * this.width,
    });
    this.write(view(1), view(2), n);
  }

  /**
   * Keeps the current block: p += n. When the window is then full (p ≥ W), the oldest
   * committed blocks are dropped until p < W (with one block size b: p = W − b, as in the
   * reference), shifting and re-rotating the kept keys.
   *
   * `blockSize` records the pending rows as consecutive blocks of that size (the last one
   * possibly shorter) rather than one block: a prompt prefilled in one pass then slides out
   * of the window block by block, exactly as if it had been committed one block at a time.
   */
  commit(blockSize?: number): void {
    if (this.#pending === 0) {
      throw new ShapeError("KvCache.commit: nothing written since the last commit");
    }
    if (blockSize !== undefined && !(Number.isInteger(blockSize) && blockSize >= 1)) {
      throw new ShapeError(`KvCache.commit: block size must be an integer ≥ 1, got ${blockSize}`);
    }
    this.#length += this.#pending;
    const size = blockSize ?? this.#pending;
    for (let left = this.#pending; left > 0; left -= size) {
      this.#committed.push(Math.min(size, left));
    }
    this.#pending = 0;
    // Only count the blocks to drop here: slide() removes their records itself.
    let drop = 0;
    for (let i = 0; this.#length - drop >= this.capacity; i++) drop += this.#committed[i];
    if (drop > 0) this.slide(drop);
  }

  /**
   * Drops the oldest `shift` committed rows (0 < shift ≤ p): rows [shift, p) move to
   * [0, p − shift), keys re-rotated by −shift positions. The current block (if any) is
   * discarded; write it again at the new position.
   */
  slide(shift: number): void {
    if (!Number.isInteger(shift) || shift < 1 || shift > this.#length) {
      throw new ShapeError(`KvCache.slide: cannot drop ${shift} of ${this.#length} committed rows`);
    }
    const keep = this.#length - shift;
    // Drop block records that fell out of the window (slide() may be called directly).
    let dropped = 0;
    while (this.#committed.length && dropped + this.#committed[0] <= shift) {
      dropped += this.#committed.shift()!;
    }
    if (dropped < shift && this.#committed.length) this.#committed[0] -= shift - dropped;
    this.#length = keep;
    this.#pending = 0;
    if (keep === 0) return;
    const { batch, capacity, width } = this;
    this.#spareK ??= Tensor.empty(this.gpu, this.#k.shape);
    this.#spareV ??= Tensor.empty(this.gpu, this.#v.shape);
    const total = batch * keep * (width / 2);
    const u = new Uniforms().u32(total).u32(keep).u32(width).u32(capacity)
      .u32(0).u32(shift).u32(this.headDim).u32(0);
    // The source views of write_rows are unused here; the struct still needs its full size.
    for (let i = 0; i < 8; i++) u.u32(0);
    const kernel = this.gpu.kernel({
      name: "kv_slide",
      code: src,
      entry: "slide",
      params: { WG },
      bindings: BINDINGS,
    });
    this.gpu.dispatch(
      kernel,
      [this.#k, this.#v, this.#spareK, this.#spareV, this.#table(shift)],
      u.bytes(),
      grid1d(total, WG),
    );
    [this.#k, this.#spareK] = [this.#spareK, this.#k];
    [this.#v, this.#spareV] = [this.#spareV, this.#v];
  }

  /** Empties the cache (p = 0). Stale rows are never read, so nothing is cleared. */
  reset(): void {
    this.#length = 0;
    this.#pending = 0;
    this.#committed.length = 0;
  }

  /**
   * Attention arguments for cached inference: the current block's queries (`q`, `pending`
   * rows) against keys and values cache[0, p + pending), no mask. Spread into `attention`.
   */
  attentionArgs(q: AttentionOperand): AttentionArgs {
    if (this.#pending === 0) {
      throw new ShapeError("KvCache.attentionArgs: write the current block first");
    }
    const view = (tensor: Tensor): AttentionOperand => ({
      tensor,
      rowStride: this.width,
      batchStride: this.capacity * this.width,
    });
    return {
      q,
      k: view(this.#k),
      v: view(this.#v),
      batch: this.batch,
      heads: this.heads,
      headDim: this.headDim,
      seqQ: this.#pending,
      seqK: this.#length + this.#pending,
      mask: { kind: "cached" },
    };
  }

  /**
   * (cos, sin) of −shift·inv_freq_j (the rotary kernel's f32 inv_freq, so the rotations compose
   * with its angles), in float64, uploaded once per shift.
   */
  #table(shift: number): Tensor {
    let t = this.#tables.get(shift);
    if (!t) {
      const inv = rotaryInvFreq(this.headDim);
      const data = new Float32Array(this.headDim);
      for (let j = 0; j < inv.length; j++) {
        const theta = -shift * inv[j];
        data[2 * j] = Math.cos(theta);
        data[2 * j + 1] = Math.sin(theta);
      }
      t = Tensor.from(this.gpu, data, [inv.length, 2]);
      this.#tables.set(shift, t);
    }
    return t;
  }

  /** Releases every buffer of the cache. */
  dispose(): void {
    for (const t of [this.#k, this.#v, this.#spareK, this.#spareV, ...this.#tables.values()]) {
      t?.dispose();
    }
    this.#tables.clear();
  }

  /** Releases every buffer of the cache (for `using`). */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
