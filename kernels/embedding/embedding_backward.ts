/**
 * Backward of the token embedding gather: `dE[v] += Σ_{n: ids[n] = v} dH[n]`,
 * summed in a fixed order so training is bit-reproducible across runs and on resume.
 *
 * The batch's ids come from the host, so the host also builds the index that groups positions
 * by id ({@linkcode buildEmbeddingCsr}, a counting sort), uploads it
 * ({@linkcode uploadEmbeddingCsr}), and the kernel gives one workgroup to each distinct id.
 * This avoids float atomics, whose order (and hence rounding) varies from run to run.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import src from "./embedding_backward.wgsl" with { type: "text" };
import { rowChunks } from "../_row_chunks.ts";

const WG = 128;

/** Positions grouped by token id (compressed sparse rows), built on the host. */
export interface EmbeddingCsr {
  /** Rows of the table (V). */
  vocab: number;
  /** The distinct ids, ascending. */
  rows: Int32Array;
  /** `positions[starts[g] .. starts[g + 1])` are the positions of id `rows[g]` (length rows + 1). */
  starts: Int32Array;
  /** Every position 0 … count − 1, grouped by id, ascending within a group. */
  positions: Int32Array;
}

/**
 * Groups the positions of `ids` by id with a stable counting sort (O(count + V)). Throws a
 * RangeError for an id outside [0, vocab): the forward gives such a position a NaN row, and a
 * gradient for it has nowhere to go.
 * @param ids the batch's token ids, flattened in the order of dH's rows
 */
export function buildEmbeddingCsr(ids: ArrayLike<number>, vocab: number): EmbeddingCsr {
  if (!Number.isInteger(vocab) || vocab < 1) {
    throw new RangeError(`buildEmbeddingCsr: vocab must be an integer ≥ 1, got ${vocab}`);
  }
  const counts = new Int32Array(vocab + 1);
  for (let n = 0; n < ids.length; n++) {
    const id = ids[n];
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new RangeError(`buildEmbeddingCsr: ids[${n}] = ${id} is outside [0, ${vocab})`);
    }
    counts[id + 1]++;
  }
  let distinct = 0;
  for (let v = 0; v < vocab; v++) if (counts[v + 1] > 0) distinct++;
  // counts → exclusive prefix sums: next[v] is where id v's next position goes.
  const next = counts;
  for (let v = 0; v < vocab; v++) next[v + 1] += next[v];
  const rows = new Int32Array(distinct);
  const starts = new Int32Array(distinct + 1);
  let g = 0;
  for (let v = 0; v < vocab; v++) {
    if (next[v + 1] > next[v]) {
      rows[g] = v;
      starts[g] = next[v];
      g++;
    }
  }
  starts[distinct] = ids.length;
  const positions = new Int32Array(ids.length);
  for (let n = 0; n < ids.length; n++) positions[next[ids[n]]++] = n;
  return { vocab, rows, starts, positions };
}

/** An {@linkcode EmbeddingCsr} on the GPU: one packed i32 tensor plus its sizes. */
export interface EmbeddingCsrTensor extends Disposable {
  /** `[rows | starts | positions]`, i32, length 2·distinct + 1 + count. */
  data: Tensor;
  /** Rows of the table (V). */
  vocab: number;
  /** Distinct ids in the batch. */
  distinct: number;
  /** Positions (rows of dH). */
  count: number;
  /** The distinct ids, ascending (host copy: which groups fall in each block of dE's rows). */
  rows: Int32Array;
}

/**
 * Uploads a CSR index as one packed i32 tensor. This writes to the device queue (and so
 * submits work recorded before it): upload before recording the step that uses it.
 */
export function uploadEmbeddingCsr(gpu: Gpu, csr: EmbeddingCsr): EmbeddingCsrTensor {
  const distinct = csr.rows.length;
  const count = csr.positions.length;
  if (csr.starts.length !== distinct + 1 || csr.starts[distinct] !== count) {
    throw new ShapeError(
      `uploadEmbeddingCsr: starts has ${csr.starts.length} entries ending at ${
        csr.starts[csr.starts.length - 1]
      }, expected ${distinct + 1} ending at ${count}`,
    );
  }
  const packed = new Int32Array(2 * distinct + 1 + count);
  packed.set(csr.rows, 0);
  packed.set(csr.starts, distinct);
  packed.set(csr.positions, 2 * distinct + 1);
  const data = Tensor.from(gpu, packed, [packed.length], "i32");
  return {
    data,
    vocab: csr.vocab,
    distinct,
    count,
    rows: csr.rows,
    [Symbol.dispose]: () => data.dispose(),
  };
}

/** Options of {@linkcode embeddingBackward}. */
export interface EmbeddingBackwardOptions {
  /** Output dE [V, d] (f32). Required with `accumulate`. */
  out?: Tensor;
  /**
   * Add to `out` (gradient accumulation over micro-batches) instead of overwriting it. Without
   * it, dE is cleared first and then holds this batch's gradient only.
   */
  accumulate?: boolean;
  /**
   * Largest storage binding to use, in bytes; defaults to the device's
   * `maxStorageBufferBindingSize`. Lower it only to exercise the row blocks in tests.
   */
  maxBindingBytes?: number;
}

/**
 * Returns dE [V, d] with `dE[v, :] = Σ_{n: ids[n] = v} dH[n, :]` (or `+=` with `accumulate`),
 * each sum taken in ascending position order by one invocation, so the result is bit-identical
 * across runs.
 * @param dh upstream gradient of the embedding output, [...ids.shape, d] (f32)
 * @param csr the batch's index from {@linkcode uploadEmbeddingCsr}
 */
export function embeddingBackward(
  dh: Tensor,
  csr: EmbeddingCsrTensor,
  opts: EmbeddingBackwardOptions = {},
): Tensor {
  const gpu: Gpu = dh.gpu;
  const what = "embeddingBackward";
  dh.expectDtype("f32", `${what} dh`);
  const width = dh.shape[dh.shape.length - 1] ?? 0;
  if (dh.shape.length < 1 || dh.size !== csr.count * width) {
    throw new ShapeError(
      `${what}: dh ${formatShape(dh.shape)} must be [..., d] with ${csr.count} rows (the index's)`,
    );
  }
  csr.data.expectDtype("i32", `${what} csr`);
  if (opts.accumulate && !opts.out) {
    throw new ShapeError(`${what}: accumulate needs an out tensor to add to`);
  }
  const out = opts.out ?? Tensor.empty(gpu, [csr.vocab, width]);
  out.expectDtype("f32", `${what} out`);
  out.expectShape([csr.vocab, width], `${what} out`);
  const accumulate = opts.accumulate ?? false;
  if (!accumulate) gpu.clear(out.buffer, out.offset, out.paddedBytes);
  const kernel = gpu.kernel({
    name: "embedding_backward",
    code: src,
    params: { WG, ACCUMULATE: accumulate },
    bindings: ["uniform", "read", "read", "write"],
  });
  // dE of a large vocabulary (50258 × 768 f32) exceeds one binding: its rows go in blocks.
  const chunks = rowChunks(
    gpu,
    out,
    width * 4,
    csr.vocab,
    `${what}: dE ${formatShape(out.shape)}`,
    opts.maxBindingBytes,
  );
  let g0 = 0;
  for (const c of chunks) {
    let g1 = g0;
    while (g1 < csr.distinct && csr.rows[g1] < c.row0 + c.rows) g1++;
    if (g1 > g0) {
      const u = new Uniforms().u32(csr.distinct).u32(width).u32(g0).u32(g1).u32(c.row0)
        .u32(0).u32(0).u32(0);
      gpu.dispatch(kernel, [csr.data, dh, c.binding], u.bytes(), grid1d(g1 - g0, 1));
    }
    g0 = g1;
  }
  return out;
}
