/**
 * Seeded, resumable batching of fixed-length chunks into [B, L] `Int32Array` batches.
 * @module
 */
import { mulberry32 } from "@blockdiff/core";

/** n chunks of length L stored row-major in one array. */
export interface ChunkSet {
  /** n × L ids. */
  data: Int32Array;
  /** Row length L. */
  length: number;
  /** Number of rows n. */
  count: number;
  /** Optional per-row attention mask (n × L), present for the padded mode. */
  attentionMask?: Uint8Array;
}

/** Builds a {@link ChunkSet} from rows of equal length. */
export function chunkSetFrom(rows: readonly Int32Array[], length: number): ChunkSet {
  const data = new Int32Array(rows.length * length);
  rows.forEach((r, i) => {
    if (r.length !== length) throw new RangeError(`row ${i} has length ${r.length}, not ${length}`);
    data.set(r, i * length);
  });
  return { data, length, count: rows.length };
}

/** Where a {@link BatchIterator} stands: the next batch is `index` of epoch `epoch`. */
export interface BatchState {
  /** Epoch of the next batch (0-based). */
  epoch: number;
  /** Index of the next batch within its epoch (0-based). */
  index: number;
}

/** Options of {@link BatchIterator}. */
export interface BatchOptions {
  /** Rows per batch B. */
  batchSize: number;
  /** Seed of the per-epoch shuffles. Default 0. */
  seed?: number;
  /** Shuffle rows each epoch (train). Default true; false keeps file order (validation). */
  shuffle?: boolean;
  /** Drop the last incomplete batch of an epoch. Default: same as `shuffle`. */
  dropLast?: boolean;
  /** Start here instead of epoch 0, batch 0. */
  state?: BatchState;
}

/** One batch: `ids` is [rows, L] row-major. */
export interface Batch {
  /** Token ids of the rows, `[rows, L]` row-major. */
  ids: Int32Array;
  /** [rows, L] mask when the chunk set has one. */
  attentionMask?: Uint8Array;
  /** Rows in this batch (B, or fewer for a kept last batch). */
  rows: number;
  /** Row length L. */
  length: number;
  /** Epoch of this batch (0-based). */
  epoch: number;
  /** Index of this batch within its epoch (0-based). */
  index: number;
}

/** The row order of an epoch: Fisher–Yates with mulberry32 seeded by (seed, epoch). */
export function epochPermutation(count: number, seed: number, epoch: number): Uint32Array {
  const perm = new Uint32Array(count);
  for (let i = 0; i < count; i++) perm[i] = i;
  const rand = mulberry32(
    (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0,
  );
  for (let i = count - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm;
}

/**
 * Endless batches over a chunk set, epoch after epoch. `state` (epoch, index) can be saved
 * after any batch and passed back to resume at exactly the next batch.
 */
export class BatchIterator implements IterableIterator<Batch> {
  /** The rows batches are drawn from. */
  readonly chunks: ChunkSet;
  /** Rows per batch B. */
  readonly batchSize: number;
  /** Seed of the per-epoch shuffles. */
  readonly seed: number;
  /** Whether rows are shuffled each epoch. */
  readonly shuffle: boolean;
  /** Whether the last incomplete batch of an epoch is dropped. */
  readonly dropLast: boolean;
  #epoch: number;
  #index: number;
  #perm?: Uint32Array;
  #permEpoch = -1;

  /** Starts at `options.state`, else epoch 0, batch 0; throws RangeError when `batchSize` < 1. */
  constructor(chunks: ChunkSet, options: BatchOptions) {
    if (!(options.batchSize >= 1)) throw new RangeError("batchSize must be ≥ 1");
    this.chunks = chunks;
    this.batchSize = options.batchSize;
    this.seed = options.seed ?? 0;
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? this.shuffle;
    this.#epoch = options.state?.epoch ?? 0;
    this.#index = options.state?.index ?? 0;
    if (this.batchesPerEpoch === 0) {
      throw new RangeError(
        `${chunks.count} chunks make no batch of ${this.batchSize} (dropLast ${this.dropLast})`,
      );
    }
  }

  /** Batches in one epoch. */
  get batchesPerEpoch(): number {
    const n = this.chunks.count / this.batchSize;
    return this.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** The position of the next batch (save it to resume). */
  get state(): BatchState {
    return { epoch: this.#epoch, index: this.#index };
  }

  /** Moves to a saved position. */
  restore(state: BatchState): void {
    this.#epoch = state.epoch;
    this.#index = state.index;
  }

  #order(): Uint32Array | undefined {
    if (!this.shuffle) return undefined;
    if (this.#permEpoch !== this.#epoch) {
      this.#perm = epochPermutation(this.chunks.count, this.seed, this.#epoch);
      this.#permEpoch = this.#epoch;
    }
    return this.#perm;
  }

  /** The next batch (never done: epochs repeat). */
  next(): IteratorResult<Batch> {
    if (this.#index >= this.batchesPerEpoch) {
      this.#epoch++;
      this.#index = 0;
    }
    const { data, length: L, count, attentionMask } = this.chunks;
    const order = this.#order();
    const first = this.#index * this.batchSize;
    const rows = Math.min(this.batchSize, count - first);
    const ids = new Int32Array(rows * L);
    const mask = attentionMask ? new Uint8Array(rows * L) : undefined;
    for (let r = 0; r < rows; r++) {
      const src = order ? order[first + r] : first + r;
      ids.set(data.subarray(src * L, (src + 1) * L), r * L);
      mask?.set(attentionMask!.subarray(src * L, (src + 1) * L), r * L);
    }
    const batch: Batch = {
      ids,
      attentionMask: mask,
      rows,
      length: L,
      epoch: this.#epoch,
      index: this.#index,
    };
    this.#index++;
    return { value: batch, done: false };
  }

  /** The remaining batches of the current epoch (for a validation pass). */
  *epoch(): Generator<Batch> {
    if (this.#index >= this.batchesPerEpoch) {
      this.#epoch++;
      this.#index = 0;
    }
    const e = this.#epoch;
    while (this.#index < this.batchesPerEpoch && this.#epoch === e) yield this.next().value;
  }

  /** Returns this iterator (it is its own iterable, and never ends). */
  [Symbol.iterator](): IterableIterator<Batch> {
    return this;
  }
}
