/**
 * Backward of `attention` (f32), flash-style: the softmax probabilities are recomputed from the
 * forward's log-sum-exp rather than stored, so memory stays O(S·d). Three dispatches:
 *
 * 1. per (batch, head, query row) the pair (lse·log2 e, Δ = Σ dout⊙o);
 * 2. dq, one invocation per query row, over the keys that row sees (as the forward);
 * 3. dk and dv, one invocation per key row, over the query rows that see that key (the
 *    transpose of the forward's intervals, `visibleQueries`).
 *
 * Every output row has one owner, so no atomics are used and results are deterministic; tiles
 * the mask hides from a whole workgroup are skipped in both passes. The mask reaches the
 * shaders as a small table of per-row intervals built on the host and cached per device, mask
 * and shape: its first use uploads it, which submits the work recorded so far.
 *
 * Needs from the forward: its output `o` `[B, Sq, d]` and its `lse` `[B, H, Sq]`
 * (`attention(..., lse: true)`), and the same q, k, v (post-rotary), mask and scale.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import {
  type AttentionMask,
  type AttentionOperand,
  blockBounds,
  type BlockTable,
  hostBlocks,
  type Intervals,
  qkvOperands,
  visibleKeys,
} from "./attention.ts";
import src from "./attention_backward.wgsl" with { type: "text" };
import { placeholders, selectVariant } from "./_shared.ts";
import statsSrc from "./attention_backward_stats.wgsl" with { type: "text" };

/** Arguments of `attentionBackward` (the qkv-projection form). */
export interface AttentionBackwardArgs {
  /** The forward's input `[B, S, 3d]`: post-rotary q and k, and v (see `qkvOperands`). */
  qkv: Tensor;
  /** The forward's output `[B, S, d]`. */
  o: Tensor;
  /** The forward's natural-log log-sum-exp `[B, H, S]`. */
  lse: Tensor;
  /** Gradient of the loss with respect to `o`, `[B, S, d]`. */
  dout: Tensor;
  /** Batch size B. */
  batch: number;
  /** Number of heads H (d = H·D). */
  heads: number;
  /** Sequence length S. */
  seq: number;
  /** The forward's mask (`cached` is not meaningful here; Sq = Sk = seq). */
  mask: AttentionMask;
  /** The forward's softmax scale, 1/√D when omitted. */
  scale?: number;
  /** Output `[B, S, 3d]` (every element is written); allocated when omitted. */
  dqkv?: Tensor;
}

/** Arguments of `attentionBackwardOperands` (strided q/k/v and gradient views). */
export interface AttentionBackwardOperandArgs {
  /** The forward's queries `[B, Sq, H·D]`. */
  q: AttentionOperand;
  /** The forward's keys `[B, Sk, H·D]`. */
  k: AttentionOperand;
  /** The forward's values `[B, Sk, H·D]`. */
  v: AttentionOperand;
  /** The forward's output `[B, Sq, H·D]`. */
  o: Tensor;
  /** The forward's log-sum-exp `[B, H, Sq]`. */
  lse: Tensor;
  /** Gradient of the loss with respect to `o`, `[B, Sq, H·D]`. */
  dout: Tensor;
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
  /** The forward's mask. */
  mask: AttentionMask;
  /** The forward's softmax scale, 1/√D when omitted. */
  scale?: number;
  /** Where dq goes (`[B, Sq, H·D]` allocated when omitted); each element of the view is written. */
  dq?: AttentionOperand;
  /** Where dk goes (`[B, Sk, H·D]` allocated when omitted). */
  dk?: AttentionOperand;
  /** Where dv goes (`[B, Sk, H·D]` allocated when omitted); if it shares dk's buffer it must be the same tensor. */
  dv?: AttentionOperand;
}

/** The tensors holding the gradient views (the same tensor three times in the qkv form). */
export interface AttentionGrads {
  /** Tensor holding the dq view. */
  dq: Tensor;
  /** Tensor holding the dk view. */
  dk: Tensor;
  /** Tensor holding the dv view. */
  dv: Tensor;
}

/**
 * Capacity of the shader's per-row vec4 register arrays: one of a few sizes rather than exactly
 * ceil(D / 4), so that few pipelines exist (each costs seconds to compile on lavapipe). The
 * loops run to ceil(D / 4), a uniform, so the spare capacity costs no work.
 */
function registerCapacity(D: number): number {
  return D <= 32 ? 8 : D <= 64 ? 16 : 32;
}

/** Rows per workgroup: the forward's choice (one 8-lane subgroup on CPU drivers). */
function rowTile(gpu: Gpu): number {
  return gpu.info.isSoftware ? 8 : 32;
}

/**
 * The mask as intervals, both ways: the keys query row r sees (the forward's `visibleKeys`)
 * and the query rows that see key j (the transpose). Sq = Sk for `bdTrain`; for `causal` and
 * `blockCausal` the queries are the last Sq of Sk positions.
 */
export function maskIntervals(
  mask: AttentionMask,
  seqQ: number,
  seqK: number,
): { keysOf(r: number): Intervals; queriesOf(j: number): Intervals } {
  const keysOf = visibleKeys(mask, seqQ, seqK);
  const shift = seqK - seqQ;
  const blockOf = hostBlocks(mask, seqQ, seqK)!;
  switch (mask.kind) {
    case "causal":
      return { keysOf, queriesOf: (j) => [Math.max(0, j - shift), seqQ, 0, 0] };
    case "blockCausal":
      // The key's block starts at or before the row's position.
      return { keysOf, queriesOf: (j) => [Math.max(0, blockOf(j)[0] - shift), seqQ, 0, 0] };
    case "bdTrain": {
      const l = seqQ / 2;
      return {
        keysOf,
        queriesOf: (j) => {
          // x_t key: the x_t rows of its block (M_BD).
          if (j < l) return [...blockOf(j), 0, 0];
          // x0 key: x_t rows of later blocks (M_OBC), x0 rows of its block or later (M_BC).
          const [s, e] = blockOf(j - l);
          return [e, l, l + s, 2 * l];
        },
      };
    }
    default:
      return { keysOf, queriesOf: () => [0, seqQ, 0, 0] };
  }
}

/** The query rows that see key `key` (the transpose of `visibleRanges`). */
export function visibleQueries(
  mask: AttentionMask,
  seqQ: number,
  seqK: number,
  key: number,
): Intervals {
  return maskIntervals(mask, seqQ, seqK).queriesOf(key);
}

/**
 * The shader's interval table, `[Sq + Sk + ceil(Sq/qt) + ceil(Sk/qt), 4]` u32: query rows, key
 * rows, then the hull of each tile of qt rows (each interval's min start and max end over the
 * tile's non-empty ones).
 */
function intervalTable(mask: AttentionMask, seqQ: number, seqK: number, qt: number): Uint32Array {
  const { keysOf, queriesOf } = maskIntervals(mask, seqQ, seqK);
  const nq = Math.ceil(seqQ / qt);
  const nk = Math.ceil(seqK / qt);
  const out = new Uint32Array(4 * (seqQ + seqK + nq + nk));
  for (let r = 0; r < seqQ; r++) out.set(keysOf(r), 4 * r);
  for (let j = 0; j < seqK; j++) out.set(queriesOf(j), 4 * (seqQ + j));
  const hulls = (first: number, rows: number, at: number) => {
    for (let t = 0; t * qt < rows; t++) {
      let [alo, ahi, blo, bhi] = [Infinity, 0, Infinity, 0];
      for (let r = t * qt; r < Math.min(rows, (t + 1) * qt); r++) {
        const [x, y, z, w] = out.subarray(4 * (first + r), 4 * (first + r) + 4);
        if (y > x) [alo, ahi] = [Math.min(alo, x), Math.max(ahi, y)];
        if (w > z) [blo, bhi] = [Math.min(blo, z), Math.max(bhi, w)];
      }
      out.set([ahi > 0 ? alo : 0, ahi, bhi > 0 ? blo : 0, bhi], 4 * (at + t));
    }
  };
  hulls(0, seqQ, seqQ + seqK);
  hulls(seqQ, seqK, seqQ + seqK + nq);
  return out;
}

const TABLES_KEPT = 16;
const tables = new WeakMap<Gpu, Map<string, Tensor>>();

/**
 * The uploaded interval table for a mask and shape, cached per device (the most recent
 * TABLES_KEPT), so a training loop uploads it once; a first upload submits the work recorded
 * so far (as any host write does).
 */
function maskTable(gpu: Gpu, mask: AttentionMask, seqQ: number, seqK: number, qt: number): Tensor {
  let cache = tables.get(gpu);
  if (!cache) tables.set(gpu, cache = new Map());
  const m = mask as { blockSize?: number; blockStarts?: readonly number[]; blocks?: BlockTable };
  const blocks = m.blocks?.starts ?? m.blockStarts;
  const key = `${mask.kind === "cached" ? "full" : mask.kind}|${m.blockSize ?? ""}|${
    blocks?.join(",") ?? ""
  }|${seqQ}|${seqK}|${qt}`;
  let t = cache.get(key);
  if (t) {
    // Most recently used last, so eviction drops the oldest.
    cache.delete(key);
  } else {
    t = Tensor.from(
      gpu,
      intervalTable(mask, seqQ, seqK, qt),
      [tableRows(seqQ, seqK, qt), 4],
      "u32",
    );
    if (cache.size >= TABLES_KEPT) {
      const [oldKey, old] = cache.entries().next().value!;
      cache.delete(oldKey);
      // Safe before submission: a later user of the pooled buffer is recorded after its users.
      old.dispose();
    }
  }
  cache.set(key, t);
  return t;
}

function tableRows(seqQ: number, seqK: number, qt: number): number {
  return seqQ + seqK + Math.ceil(seqQ / qt) + Math.ceil(seqK / qt);
}

const SRC_VEC = selectVariant(src, true);
const SRC_SCALAR = selectVariant(src, false);

const WHAT = "attentionBackward";

function checkDims(a: AttentionBackwardOperandArgs): void {
  const { batch, heads, headDim, seqQ, seqK, mask } = a;
  for (
    const [what, x] of [
      ["batch", batch],
      ["heads", heads],
      ["headDim", headDim],
      ["seqQ", seqQ],
      ["seqK", seqK],
    ] as const
  ) {
    if (!Number.isInteger(x) || x < 1) {
      throw new ShapeError(`${WHAT}: ${what} must be an integer ≥ 1, got ${x}`);
    }
  }
  if (headDim > 128) throw new ShapeError(`${WHAT}: head dim ${headDim} > 128 is not supported`);
  if ((mask.kind === "causal" || mask.kind === "blockCausal") && seqQ > seqK) {
    throw new ShapeError(
      `${WHAT} ${mask.kind}: ${seqQ} queries for ${seqK} keys (queries must be the last Sq keys)`,
    );
  }
  if (mask.kind === "bdTrain" && (seqQ !== seqK || seqQ % 2 !== 0)) {
    throw new ShapeError(`${WHAT} bdTrain: needs Sq = Sk = 2L, got Sq ${seqQ}, Sk ${seqK}`);
  }
}

function checkOperand(
  name: string,
  op: AttentionOperand,
  a: AttentionBackwardOperandArgs,
  seq: number,
): void {
  op.tensor.expectDtype("f32", `${WHAT} ${name}`);
  const { batch, heads, headDim } = a;
  const headStride = op.headStride ?? headDim;
  const offset = op.offset ?? 0;
  const fields = [
    ["rowStride", op.rowStride],
    ["batchStride", op.batchStride],
    ["offset", offset],
    ["headStride", headStride],
  ] as const;
  for (const [what, x] of fields) {
    if (!Number.isInteger(x) || x < 0) {
      throw new ShapeError(`${WHAT} ${name}: ${what} must be an integer ≥ 0, got ${x}`);
    }
  }
  const last = offset + (batch - 1) * op.batchStride + (seq - 1) * op.rowStride +
    (heads - 1) * headStride + headDim - 1;
  if (last >= op.tensor.size) {
    throw new ShapeError(
      `${WHAT} ${name}: view (B=${batch}, S=${seq}, H=${heads}, D=${headDim}, offset ${offset}, ` +
        `strides row ${op.rowStride} batch ${op.batchStride} head ${headStride}) reaches element ` +
        `${last}, past the end of tensor ${
          formatShape(op.tensor.shape)
        } (${op.tensor.size} elements)`,
    );
  }
}

/** Checks the block spec of a block mask (the forward's rules). */
function checkBlocks(mask: AttentionMask, n: number): void {
  if (mask.kind !== "blockCausal" && mask.kind !== "bdTrain") return;
  const given =
    [mask.blockSize, mask.blockStarts, mask.blocks].filter((x) => x !== undefined).length;
  if (given !== 1) {
    throw new ShapeError(
      `${WHAT} ${mask.kind} mask: give exactly one of blockSize, blockStarts, blocks`,
    );
  }
  if (mask.blockSize !== undefined) {
    if (!Number.isInteger(mask.blockSize) || mask.blockSize < 1) {
      throw new ShapeError(
        `${WHAT} ${mask.kind} mask: blockSize must be an integer ≥ 1, got ${mask.blockSize}`,
      );
    }
  } else if (mask.blocks) {
    if (mask.blocks.length !== n) {
      throw new ShapeError(
        `${WHAT} ${mask.kind} mask: block table covers ${mask.blocks.length} positions, the mask needs ${n}`,
      );
    }
  } else {
    blockBounds(mask.blockStarts!, n); // throws a ShapeError for invalid starts
  }
}

/**
 * Records the gradients of `attention` with respect to strided q, k and v views, written into
 * strided gradient views (allocated `[B, S, H·D]` when omitted), and returns their tensors.
 * Supports every mask of the forward, including Sq ≠ Sk for `full`/`cached`/`causal`/
 * `blockCausal`. Gradient views must not share a buffer with any input; dq may share one with
 * dk/dv (the qkv form), dk with dv only as the same tensor. Nothing is submitted.
 */
export function attentionBackwardOperands(a: AttentionBackwardOperandArgs): AttentionGrads {
  checkDims(a);
  const { batch, heads, headDim: D, seqQ, seqK, mask } = a;
  const gpu: Gpu = a.q.tensor.gpu;
  const d = heads * D;
  checkOperand("q", a.q, a, seqQ);
  checkOperand("k", a.k, a, seqK);
  checkOperand("v", a.v, a, seqK);
  for (const [name, t] of [["o", a.o], ["dout", a.dout]] as const) {
    t.expectShape([batch, seqQ, d], `${WHAT} ${name}`);
    t.expectDtype("f32", `${WHAT} ${name}`);
  }
  a.lse.expectShape([batch, heads, seqQ], `${WHAT} lse`);
  a.lse.expectDtype("f32", `${WHAT} lse`);

  const dense = (seq: number): AttentionOperand => ({
    tensor: Tensor.empty(gpu, [batch, seq, d]),
    rowStride: d,
    batchStride: seq * d,
  });
  const dq = a.dq ?? dense(seqQ);
  const dk = a.dk ?? dense(seqK);
  const dv = a.dv ?? dense(seqK);
  checkOperand("dq", dq, a, seqQ);
  checkOperand("dk", dk, a, seqK);
  checkOperand("dv", dv, a, seqK);
  const inputs = [a.q.tensor, a.k.tensor, a.v.tensor, a.o, a.lse, a.dout];
  for (const [name, g] of [["dq", dq], ["dk", dk], ["dv", dv]] as const) {
    if (inputs.some((t) => t.buffer === g.tensor.buffer)) {
      throw new ShapeError(`${WHAT}: ${name} must not share a buffer with q, k, v, o, lse or dout`);
    }
  }
  const sameKv = dk.tensor.buffer === dv.tensor.buffer;
  if (sameKv && dk.tensor !== dv.tensor) {
    throw new ShapeError(`${WHAT}: dk and dv share a buffer, so they must be views of one tensor`);
  }

  const ops = [a.q, a.k, a.v, dq, dk, dv];
  const vec = D % 4 === 0 &&
    ops.every((o) =>
      [o.rowStride, o.batchStride, o.offset ?? 0, o.headStride ?? D].every((x) => x % 4 === 0) &&
      o.tensor.offset % 16 === 0
    ) && a.dout.offset % 16 === 0;
  const unit = vec ? 4 : 1;
  const scale = a.scale ?? 1 / Math.sqrt(D);
  checkBlocks(mask, mask.kind === "bdTrain" ? seqQ / 2 : seqK);
  const qt = rowTile(gpu);
  // Uploaded before anything is recorded here (a first upload submits pending work).
  const table = maskTable(gpu, mask, seqQ, seqK, qt);
  const dm = placeholders(gpu);

  // 1. (lse·log2 e, Δ) per query row.
  const rows = batch * heads * seqQ;
  const stats = Tensor.empty(gpu, [batch, heads, seqQ, 2]);
  const statsKernel = gpu.kernel({
    name: "attention_backward_stats",
    code: statsSrc,
    params: { WG: 64 },
    bindings: ["read", "read", "read", "write", "uniform"],
  });
  gpu.dispatch(
    statsKernel,
    [a.o, a.dout, a.lse, stats],
    new Uniforms().u32(rows).u32(seqQ).u32(heads).u32(D).u32(d).bytes(),
    grid1d(rows, 64),
  );

  // 2 and 3 share one module and one binding layout; the cache key includes the entry name.
  const spec = (entry: string) =>
    gpu.kernel({
      name: "attention_backward",
      entry,
      code: vec ? SRC_VEC : SRC_SCALAR,
      // VEC is unused by the WGSL but keeps the two sources apart in the cache key.
      params: { VEC: vec, QT: qt, D4: registerCapacity(D) },
      bindings: ["read", "read", "read", "read", "read", "read", "write", "write", "uniform"],
    });
  const uniforms = (g0: AttentionOperand, g1: AttentionOperand, same: boolean) => {
    const u = new Uniforms()
      .u32(seqQ).u32(seqK).u32(heads).u32(Math.ceil(D / 4))
      .u32(seqQ).u32(seqQ + seqK).u32(seqQ + seqK + Math.ceil(seqQ / qt)).u32(0);
    for (const o of [a.q, a.k, a.v, g0, g1]) {
      u.u32((o.offset ?? 0) / unit).u32(o.rowStride / unit).u32(o.batchStride / unit).u32(
        (o.headStride ?? D) / unit,
      );
    }
    return u.u32(d / unit).u32(D / unit).f32(scale * Math.LOG2E).f32(scale)
      .u32(same ? 1 : 0).u32(D).bytes();
  };
  const ins = [a.q.tensor, a.k.tensor, a.v.tensor, a.dout, stats, table];
  gpu.dispatch(
    spec("dq_main"),
    [...ins, dq.tensor, dm.f32],
    uniforms(dq, dq, false),
    [Math.ceil(seqQ / qt), heads, batch],
  );
  gpu.dispatch(
    spec("dkv_main"),
    [...ins, dk.tensor, sameKv ? dm.f32 : dv.tensor],
    uniforms(dk, dv, sameKv),
    [Math.ceil(seqK / qt), heads, batch],
  );
  // Safe before submission: a later user of a pooled buffer is recorded after these dispatches.
  stats.dispose();
  return { dq: dq.tensor, dk: dk.tensor, dv: dv.tensor };
}

/**
 * Records the gradient of `attention` over a qkv projection: returns `dqkv` `[B, S, 3d]` with
 * the q, k and v slots all written (no clearing needed). Nothing is submitted.
 */
export function attentionBackward(a: AttentionBackwardArgs): Tensor {
  const { qkv, batch, heads, seq } = a;
  qkv.expectDtype("f32", `${WHAT} qkv`);
  if (qkv.shape.length !== 3 || qkv.shape[0] !== batch || qkv.shape[1] !== seq) {
    throw new ShapeError(
      `${WHAT}: qkv must be [B, S, 3d] with B = ${batch}, S = ${seq}, got ${
        formatShape(qkv.shape)
      }`,
    );
  }
  const ops = qkvOperands(qkv, heads);
  const dqkv = a.dqkv ?? Tensor.empty(qkv.gpu, qkv.shape);
  dqkv.expectShape(qkv.shape, `${WHAT} dqkv`);
  const g = qkvOperands(dqkv, heads);
  attentionBackwardOperands({
    ...ops,
    o: a.o,
    lse: a.lse,
    dout: a.dout,
    batch,
    heads,
    seqQ: seq,
    seqK: seq,
    mask: a.mask,
    scale: a.scale,
    dq: g.q,
    dk: g.k,
    dv: g.v,
  });
  return dqkv;
}
