/**
 * Multi-head scaled-dot-product attention (forward, f32) with the masks of BD3-LM, AR and
 * MDLM/SEDD (docs/design.md, "Masks"), computed flash-style: online softmax over streamed keys, no
 * score matrix in memory, and key tiles that a mask hides from a whole query tile are never
 * visited.
 *
 * Operands are strided views, so q, k and v are read straight out of a qkv projection
 * `[B, S, 3d]` or out of a KV cache `[B, W, d]` without transposes. The output is
 * `[B, Sq, d]` with heads concatenated head-major (`o[b, s, h·D + lane]`).
 * @module
 */
import { formatShape, type Gpu, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import src from "./attention.wgsl" with { type: "text" };
import combineSrc from "./attention_combine.wgsl" with { type: "text" };
import rowsSrc from "./attention_rows.wgsl" with { type: "text" };
import { placeholders, selectVariant } from "./_shared.ts";
import {
  ATTENTION_SPLIT_TARGET,
  attentionAdapterKind,
  attentionCandidates,
  attentionQueryTile,
  attentionShapeClass,
  type AttentionVariant,
  attentionVariantFor,
  kernelsFingerprint,
} from "./tuning_table.ts";

export * from "./tuning_table.ts";

/**
 * A strided view of per-head vectors: element (batch b, position s, head h, lane i) is at
 * `tensor[offset + b·batchStride + s·rowStride + h·headStride + i]` (flat element index, from
 * the tensor's first element).
 */
export interface AttentionOperand {
  /** The f32 tensor holding the values (any shape; only its flat extent matters). */
  tensor: Tensor;
  /** Elements between consecutive positions. */
  rowStride: number;
  /** Elements between consecutive batch rows. */
  batchStride: number;
  /** Element index of batch 0, position 0, head 0, lane 0 (default 0). */
  offset?: number;
  /** Elements between consecutive heads (default: the head dim, heads packed head-major). */
  headStride?: number;
}

/**
 * Block boundaries for the block masks: one block size, or explicit block start positions
 * (variable block sizes; the first start must be 0), or a prebuilt `BlockTable` (no upload).
 */
export interface BlockSpec {
  /** One block size b for every block. */
  blockSize?: number;
  /** Explicit block start positions, ascending, the first 0. */
  blockStarts?: readonly number[];
  /** A prebuilt, already uploaded block table. */
  blocks?: BlockTable;
}

/**
 * Which keys a query may see.
 * - `full`: every key (MDLM, SEDD).
 * - `cached`: every key; KV-cache inference where the Sq queries are the current block and the
 *   Sk keys are the cached clean blocks followed by that block (same kernel as `full`).
 * - `causal`: key ≤ query (AR).
 * - `blockCausal`: floor(key / b) ≤ floor(query / b) (sampling without cache, prompt prefill).
 * - `bdTrain`: the block-diffusion training mask over `[x_t ; x0]`, Sq = Sk = 2L (see "Masks")
 *   (M_BD ∪ M_OBC ∪ M_BC); blocks are positions of one half (0…L−1).
 *
 * For `causal` and `blockCausal` with Sq < Sk the queries are the last Sq positions
 * (query row i has position i + Sk − Sq).
 */
export type AttentionMask =
  | { kind: "full" }
  | { kind: "cached" }
  | { kind: "causal" }
  | ({ kind: "blockCausal" } & BlockSpec)
  | ({ kind: "bdTrain" } & BlockSpec);

/** Arguments of `attention`. */
export interface AttentionArgs {
  /** Queries `[B, Sq, H·D]` (strided view). */
  q: AttentionOperand;
  /** Keys `[B, Sk, H·D]` (strided view). */
  k: AttentionOperand;
  /** Values `[B, Sk, H·D]` (strided view). */
  v: AttentionOperand;
  /** Batch size B. */
  batch: number;
  /** Number of heads H. */
  heads: number;
  /** Size of each head D. */
  headDim: number;
  /** Number of query positions (Sq). */
  seqQ: number;
  /** Number of key/value positions (Sk). */
  seqK: number;
  /** Which keys each query may see. */
  mask: AttentionMask;
  /** Softmax scale, 1/√D when omitted. */
  scale?: number;
  /** Output `[B, Sq, H·D]`; must not share a buffer with q, k or v. */
  out?: Tensor;
  /** `true` to return the log-sum-exp `[B, H, Sq]` (natural log of Σ exp(scale·q·k)), or a tensor for it. */
  lse?: boolean | Tensor;
  /**
   * Key ranges processed by separate workgroups and merged afterwards (split-KV). By default
   * chosen from the grid size: a few query rows against many keys (sampling with a KV cache)
   * would otherwise occupy a handful of workgroups. 1 disables it.
   */
  split?: number;
  /**
   * Forces a kernel (tests, benchmarks, the tuner); by default the adapter's tuning table or
   * its defaults pick one (`attentionVariantFor`).
   */
  variant?: AttentionVariant;
}

/** Block bounds uploaded once: for each position, the start and end of its block (i32 pairs). */
export class BlockTable {
  /** Block start positions (sorted, starting at 0). */
  readonly starts: readonly number[];
  /** Number of positions covered. */
  readonly length: number;
  /** `[length, 2]` i32: (start, end) of the block holding each position. */
  readonly tensor: Tensor;

  private constructor(starts: readonly number[], length: number, tensor: Tensor) {
    this.starts = starts;
    this.length = length;
    this.tensor = tensor;
  }

  /** Builds and uploads the table for blocks starting at `starts` over `length` positions. */
  static create(gpu: Gpu, starts: readonly number[], length: number): BlockTable {
    return new BlockTable(
      [...starts],
      length,
      Tensor.from(gpu, blockBounds(starts, length), [length, 2], "i32"),
    );
  }

  /** Releases the table's buffer. */
  dispose(): void {
    this.tensor.dispose();
  }

  /** Releases the table's buffer (for `using`). */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Per-position (start, end) of the block holding it, flattened, for blocks that start at
 * `starts` (strictly increasing, first 0, all < length). Throws a ShapeError otherwise.
 */
export function blockBounds(starts: readonly number[], length: number): Int32Array {
  if (starts.length === 0 || starts[0] !== 0) {
    throw new ShapeError(`block starts must begin with 0, got [${starts.join(", ")}]`);
  }
  for (let i = 1; i < starts.length; i++) {
    if (!(Number.isInteger(starts[i]) && starts[i] > starts[i - 1] && starts[i] < length)) {
      throw new ShapeError(
        `block starts must be increasing integers below the length ${length}, got [${
          starts.join(", ")
        }]`,
      );
    }
  }
  const out = new Int32Array(2 * length);
  for (let i = 0; i < starts.length; i++) {
    const end = i + 1 < starts.length ? starts[i + 1] : length;
    for (let s = starts[i]; s < end; s++) {
      out[2 * s] = starts[i];
      out[2 * s + 1] = end;
    }
  }
  return out;
}

/**
 * The kernel for a call: the forced one, else the tuning table's (or the adapter kind's
 * default) for the call's shape class. `rows` serves only `decode` calls (few query rows,
 * every key visible, vec4 operands) on adapters with subgroups of ≥ 8 lanes.
 */
function chooseVariant(gpu: Gpu, a: AttentionArgs, vec: boolean): AttentionVariant {
  const cls = attentionShapeClass({ ...a, mask: a.mask.kind, vec });
  if (a.variant === undefined) return attentionVariantFor(gpu, cls, ATTENTION_KERNELS_ID);
  if (a.variant === "rows" && !attentionCandidates(gpu, cls).includes("rows")) {
    throw new ShapeError(
      "attention: variant 'rows' needs ≤ 4 vec4-aligned query rows seeing ≥ 64 keys (full or " +
        "cached mask, no split) on an adapter with subgroups of ≥ 8 lanes; use a tiled variant",
    );
  }
  return a.variant;
}

function rowsAttention(gpu: Gpu, a: AttentionArgs, out: Tensor, lse: Tensor | null): void {
  const D = a.headDim, d4 = D / 4;
  const perLane = Math.ceil(d4 / 8);
  const kernel = gpu.kernel({
    name: "attention_rows",
    code: rowsSrc,
    params: { MAXT: 4, HAS_LSE: lse !== null },
    bindings: ["read", "read", "read", "write", "write", "uniform"],
  });
  const u = new Uniforms().u32(a.seqQ).u32(a.seqK).u32(a.heads).u32(d4);
  for (const o of [a.q, a.k, a.v]) {
    u.u32((o.offset ?? 0) / 4).u32(o.rowStride / 4).u32(o.batchStride / 4).u32(
      (o.headStride ?? D) / 4,
    );
  }
  u.u32((a.heads * D) / 4).u32(d4).f32((a.scale ?? 1 / Math.sqrt(D)) * Math.LOG2E).u32(perLane);
  gpu.dispatch(
    kernel,
    [a.q.tensor, a.k.tensor, a.v.tensor, out, lse ?? placeholders(gpu).f32],
    u.bytes(),
    [a.seqQ, a.heads, a.batch],
  );
}

/**
 * How many key ranges to split the keys into: enough workgroups to occupy the device (a few
 * per CPU core on a software adapter, a few hundred on a GPU), with at least 64 keys per
 * range; 1 when the grid is already large enough or the keys few.
 */
function splitKeys(
  gpu: Gpu,
  forced: number | undefined,
  workgroups: number,
  seqK: number,
): { nsplit: number; splitLen: number } {
  let n = forced ?? 1;
  if (forced === undefined) {
    const cores = globalThis.navigator?.hardwareConcurrency ?? 4;
    const aim = ATTENTION_SPLIT_TARGET[attentionAdapterKind(gpu)];
    const target = aim.perCore ? aim.workgroups * cores : aim.workgroups;
    if (workgroups < target && seqK >= 128) {
      n = Math.min(Math.ceil(target / workgroups), Math.floor(seqK / 64));
    }
  }
  if (!Number.isInteger(n) || n < 1) {
    throw new ShapeError(`attention: split must be an integer ≥ 1, got ${forced}`);
  }
  // Ranges hold whole chunks of KC keys; recount so no range is empty.
  const splitLen = Math.ceil(seqK / n / KC) * KC;
  return { nsplit: n === 1 ? 1 : Math.ceil(seqK / splitLen), splitLen: n === 1 ? seqK : splitLen };
}

/** Query rows per workgroup of the tiled kernel for calls of the `tiled` class on `gpu`. */
function queryTile(gpu: Gpu): number {
  return attentionQueryTile(attentionVariantFor(gpu, "tiled", ATTENTION_KERNELS_ID));
}

/** Keys per chunk between two softmax rescales. */
const KC = 4;

const MODE = { full: 0, cached: 0, causal: 1, blockCausal: 2, bdTrain: 3 } as const;

/** Two intervals [x, y) ∪ [z, w) (an empty one has y ≤ x). */
export type Intervals = [number, number, number, number];

/**
 * Visible key intervals of query row r, as [x, y, z, w] for [x, y) ∪ [z, w). Mirrors `ranges`
 * in the shader; used for the sparsity statistics and to check the shader's logic on the host.
 */
export function visibleRanges(
  mask: AttentionMask,
  seqQ: number,
  seqK: number,
  r: number,
): Intervals {
  return visibleKeys(mask, seqQ, seqK)(r);
}

/**
 * The host's one copy of the mask's visible intervals: for each query row, the keys it sees
 * (the block table is built once per call, not per row). Sq = Sk for `bdTrain`; for `causal`
 * and `blockCausal` the queries are the last Sq of Sk positions.
 */
export function visibleKeys(
  mask: AttentionMask,
  seqQ: number,
  seqK: number,
): (r: number) => Intervals {
  const shift = seqK - seqQ;
  const bounds = hostBlocks(mask, seqQ, seqK);
  switch (mask.kind) {
    case "causal":
      return (r) => [0, r + shift + 1, 0, 0];
    case "blockCausal":
      return (r) => [0, bounds!(r + shift)[1], 0, 0];
    case "bdTrain": {
      const l = seqQ / 2;
      return (r) => {
        if (r >= l) return [0, 0, l, l + bounds!(r - l)[1]];
        const [s, e] = bounds!(r);
        return [s, e, l, l + s];
      };
    }
    default:
      return () => [0, seqK, 0, 0];
  }
}

/**
 * The block [start, end) holding each position, for block masks (null for the others):
 * positions of the x_t half for `bdTrain`, of the keys for `blockCausal`.
 */
export function hostBlocks(
  mask: AttentionMask,
  seqQ: number,
  seqK: number,
): ((pos: number) => [number, number]) | null {
  if (mask.kind !== "blockCausal" && mask.kind !== "bdTrain") return null;
  const n = mask.kind === "bdTrain" ? seqQ / 2 : seqK;
  const starts = mask.blocks?.starts ?? mask.blockStarts;
  if (starts) {
    const t = blockBounds(starts, n);
    return (pos) => [t[2 * pos], t[2 * pos + 1]];
  }
  const b = mask.blockSize!;
  return (pos) => {
    const s = Math.floor(pos / b) * b;
    return [s, Math.min(s + b, n)];
  };
}

/** How much of the dense work a mask leaves, as the kernel sees it. */
export interface AttentionWork {
  /** Fraction of (query, key) pairs the mask allows. */
  visibleFraction: number;
  /** Fraction of (query, key) pairs the kernel computes (the tile hulls it visits). */
  visitedFraction: number;
  /** 1 − visitedFraction: the share of the dense score tiles skipped. */
  skippedFraction: number;
}

/** The visible and visited shares of the Sq × Sk score matrix for a mask (host-side, cheap). */
export function attentionWork(
  gpu: Gpu,
  mask: AttentionMask,
  seqQ: number,
  seqK: number,
): AttentionWork {
  const qt = queryTile(gpu);
  let visible = 0;
  let visited = 0;
  for (let t0 = 0; t0 < seqQ; t0 += qt) {
    let alo = seqK, ahi = 0, blo = seqK, bhi = 0;
    const rows = Math.min(qt, seqQ - t0);
    for (let r = t0; r < t0 + rows; r++) {
      const [x, y, z, w] = visibleRanges(mask, seqQ, seqK, r);
      visible += Math.max(0, y - x) + Math.max(0, w - z);
      if (y > x) [alo, ahi] = [Math.min(alo, x), Math.max(ahi, y)];
      if (w > z) [blo, bhi] = [Math.min(blo, z), Math.max(bhi, w)];
    }
    const keys = (hi: number, lo: number) => hi > lo ? Math.ceil((hi - lo) / KC) * KC : 0;
    visited += rows * Math.min(seqK, keys(ahi, alo) + keys(bhi, blo));
  }
  const dense = seqQ * seqK;
  return {
    visibleFraction: visible / dense,
    visitedFraction: visited / dense,
    skippedFraction: 1 - visited / dense,
  };
}

/**
 * The q, k and v operands of a qkv projection `[B, S, 3d]` (feature f: slot f div d, head
 * (f mod d) div D, lane f mod D).
 */
export function qkvOperands(
  qkv: Tensor,
  heads: number,
): { q: AttentionOperand; k: AttentionOperand; v: AttentionOperand; headDim: number } {
  if (qkv.shape.length !== 3 || qkv.shape[2] % (3 * heads) !== 0) {
    throw new ShapeError(
      `qkvOperands: expected [B, S, 3·H·D] with H = ${heads}, got ${formatShape(qkv.shape)}`,
    );
  }
  const [, s, f] = qkv.shape;
  const d = f / 3;
  const view = (slot: number): AttentionOperand => ({
    tensor: qkv,
    rowStride: f,
    batchStride: s * f,
    offset: slot * d,
  });
  return { q: view(0), k: view(1), v: view(2), headDim: d / heads };
}

const SRC_VEC = selectVariant(src, true);
const SRC_SCALAR = selectVariant(src, false);

/**
 * Identifies the attention kernels a tuning table was measured with: a version number plus a
 * hash of the forward kernels' WGSL and the key chunk, so a table goes stale when one changes.
 */
export const ATTENTION_KERNELS_ID: string = `1-${
  kernelsFingerprint([src, rowsSrc, combineSrc, `KC=${KC}`])
}`;

function checkOperand(name: string, op: AttentionOperand, a: AttentionArgs, seq: number): void {
  op.tensor.expectDtype("f32", `attention ${name}`);
  const { batch, heads, headDim } = a;
  const headStride = op.headStride ?? headDim;
  const offset = op.offset ?? 0;
  for (
    const [what, x] of [["rowStride", op.rowStride], ["batchStride", op.batchStride], [
      "offset",
      offset,
    ], [
      "headStride",
      headStride,
    ]] as const
  ) {
    if (!Number.isInteger(x) || x < 0) {
      throw new ShapeError(`attention ${name}: ${what} must be an integer ≥ 0, got ${x}`);
    }
  }
  const last = offset + (batch - 1) * op.batchStride + (seq - 1) * op.rowStride +
    (heads - 1) * headStride +
    headDim - 1;
  if (last >= op.tensor.size) {
    throw new ShapeError(
      `attention ${name}: view (B=${batch}, S=${seq}, H=${heads}, D=${headDim}, offset ${offset}, ` +
        `strides row ${op.rowStride} batch ${op.batchStride} head ${headStride}) reaches element ${last}, ` +
        `past the end of tensor ${formatShape(op.tensor.shape)} (${op.tensor.size} elements)`,
    );
  }
}

function resolveBlocks(
  gpu: Gpu,
  mask: AttentionMask,
  n: number,
): { size: number; table: Tensor | null; temp: boolean } {
  if (mask.kind !== "blockCausal" && mask.kind !== "bdTrain") {
    return { size: 1, table: null, temp: false };
  }
  const given =
    [mask.blockSize, mask.blockStarts, mask.blocks].filter((x) => x !== undefined).length;
  if (given !== 1) {
    throw new ShapeError(
      `attention ${mask.kind} mask: give exactly one of blockSize, blockStarts, blocks`,
    );
  }
  if (mask.blockSize !== undefined) {
    if (!Number.isInteger(mask.blockSize) || mask.blockSize < 1) {
      throw new ShapeError(
        `attention ${mask.kind} mask: blockSize must be an integer ≥ 1, got ${mask.blockSize}`,
      );
    }
    return { size: mask.blockSize, table: null, temp: false };
  }
  if (mask.blocks) {
    if (mask.blocks.length !== n) {
      throw new ShapeError(
        `attention ${mask.kind} mask: block table covers ${mask.blocks.length} positions, the mask needs ${n}`,
      );
    }
    return { size: 1, table: mask.blocks.tensor, temp: false };
  }
  return {
    size: 1,
    table: Tensor.from(gpu, blockBounds(mask.blockStarts!, n), [n, 2], "i32"),
    temp: true,
  };
}

/**
 * Records `softmax(scale · q·kᵀ + M) · v` per head and returns `{ out: [B, Sq, H·D], lse }`
 * (`lse` is `[B, H, Sq]` when asked for, else null). Nothing is submitted.
 *
 * With `blockStarts` the block table is uploaded on each call (which submits the work recorded
 * so far); build a `BlockTable` once to avoid that in loops.
 */
export function attention(a: AttentionArgs): { out: Tensor; lse: Tensor | null } {
  const { batch, heads, headDim: D, seqQ, seqK, mask } = a;
  const gpu: Gpu = a.q.tensor.gpu;
  for (
    const [what, x] of [["batch", batch], ["heads", heads], ["headDim", D], ["seqQ", seqQ], [
      "seqK",
      seqK,
    ]] as const
  ) {
    if (!Number.isInteger(x) || x < 1) {
      throw new ShapeError(`attention: ${what} must be an integer ≥ 1, got ${x}`);
    }
  }
  if (D > 128) throw new ShapeError(`attention: head dim ${D} > 128 is not supported`);
  if ((mask.kind === "causal" || mask.kind === "blockCausal") && seqQ > seqK) {
    throw new ShapeError(
      `attention ${mask.kind}: ${seqQ} queries for ${seqK} keys (queries must be the last Sq keys)`,
    );
  }
  if (mask.kind === "bdTrain" && (seqQ !== seqK || seqQ % 2 !== 0)) {
    throw new ShapeError(`attention bdTrain: needs Sq = Sk = 2L, got Sq ${seqQ}, Sk ${seqK}`);
  }
  checkOperand("q", a.q, a, seqQ);
  checkOperand("k", a.k, a, seqK);
  checkOperand("v", a.v, a, seqK);
  const d = heads * D;
  const out = a.out ?? Tensor.empty(gpu, [batch, seqQ, d]);
  out.expectShape([batch, seqQ, d], "attention out");
  out.expectDtype("f32", "attention out");
  let lse: Tensor | null = null;
  if (a.lse instanceof Tensor) {
    lse = a.lse;
    lse.expectShape([batch, heads, seqQ], "attention lse");
    lse.expectDtype("f32", "attention lse");
  } else if (a.lse) {
    lse = Tensor.empty(gpu, [batch, heads, seqQ]);
  }

  const ops = [a.q, a.k, a.v];
  const vec = D % 4 === 0 &&
    ops.every((o) =>
      [o.rowStride, o.batchStride, o.offset ?? 0, o.headStride ?? D].every((x) => x % 4 === 0) &&
      o.tensor.offset % 16 === 0
    ) && out.offset % 16 === 0;
  const unit = vec ? 4 : 1;

  const variant = chooseVariant(gpu, a, vec);
  if (variant === "rows") {
    rowsAttention(gpu, a, out, lse);
    return { out, lse };
  }
  const n = mask.kind === "bdTrain" ? seqQ / 2 : seqK;
  const blocks = resolveBlocks(gpu, mask, n);
  const qt = attentionQueryTile(variant);
  const tiles = Math.ceil(seqQ / qt);
  const { nsplit, splitLen } = splitKeys(gpu, a.split, tiles * heads * batch, seqK);
  const kernel = gpu.kernel({
    name: "attention",
    code: vec ? SRC_VEC : SRC_SCALAR,
    params: {
      VEC: vec,
      QT: qt,

      D,
      D4: Math.ceil(D / 4),
      MODE: MODE[mask.kind],
      VAR_BLOCKS: blocks.table !== null,
      HAS_LSE: lse !== null && nsplit === 1,
      SPLIT: nsplit > 1,
    },
    bindings: ["read", "read", "read", "write", "write", "read", "uniform"],
  });
  const u = new Uniforms()
    .u32(seqQ).u32(seqK).u32(heads).u32(blocks.size)
    .u32(seqQ / 2).u32(seqK - seqQ).u32(d / unit).u32(D / unit);
  for (const o of ops) {
    u.u32((o.offset ?? 0) / unit).u32(o.rowStride / unit).u32(o.batchStride / unit).u32(
      (o.headStride ?? D) / unit,
    );
  }
  u.f32((a.scale ?? 1 / Math.sqrt(D)) * Math.LOG2E).u32(n).u32(Math.ceil(D / 4)).u32(0);
  u.u32(nsplit).u32(splitLen).u32(0).u32(0);
  const dm = placeholders(gpu);
  if (nsplit === 1) {
    gpu.dispatch(
      kernel,
      [a.q.tensor, a.k.tensor, a.v.tensor, out, lse ?? dm.f32, blocks.table ?? dm.i32],
      u.bytes(),
      [tiles, heads, batch],
    );
  } else {
    const d4 = Math.ceil(D / 4);
    using part = Tensor.empty(gpu, [batch * heads * nsplit * seqQ * (4 * d4 + 2)]);
    gpu.dispatch(
      kernel,
      [a.q.tensor, a.k.tensor, a.v.tensor, out, part, blocks.table ?? dm.i32],
      u.bytes(),
      [tiles * nsplit, heads, batch],
    );
    const combine = gpu.kernel({
      name: "attention_combine",
      code: combineSrc,
      params: { WG: 64, HAS_LSE: lse !== null },
      bindings: ["read", "write", "write", "uniform"],
    });
    const rows = batch * heads * seqQ;
    const cu = new Uniforms().u32(seqQ).u32(heads).u32(nsplit).u32(d4)
      .u32(D).u32(d).u32(D).u32(rows);
    gpu.dispatch(combine, [part, out, lse ?? dm.f32], cu.bytes(), [Math.ceil(rows / 64)]);
  }
  // Safe before submission: a later user of the pooled buffer is recorded after this dispatch,
  // and host writes (gpu.write) submit the pending work first.
  if (blocks.temp) blocks.table!.dispose();
  return { out, lse };
}
