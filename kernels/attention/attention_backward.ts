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
 * the mask hides from a whole workgroup are skipped in both passes.
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
  qkvOperands,
} from "./attention.ts";
import src from "./attention_backward.wgsl" with { type: "text" };
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
  batch: number;
  heads: number;
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
  q: AttentionOperand;
  k: AttentionOperand;
  v: AttentionOperand;
  /** The forward's output `[B, Sq, H·D]`. */
  o: Tensor;
  /** The forward's log-sum-exp `[B, H, Sq]`. */
  lse: Tensor;
  /** Gradient of the loss with respect to `o`, `[B, Sq, H·D]`. */
  dout: Tensor;
  batch: number;
  heads: number;
  headDim: number;
  seqQ: number;
  seqK: number;
  mask: AttentionMask;
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
  dq: Tensor;
  dk: Tensor;
  dv: Tensor;
}

const MODE = { full: 0, cached: 0, causal: 1, blockCausal: 2, bdTrain: 3 } as const;

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

/** (start, end) of the block holding a position, for the block masks (host side). */
function hostBlockOf(mask: AttentionMask, n: number): (pos: number) => [number, number] {
  if (mask.kind !== "blockCausal" && mask.kind !== "bdTrain") return () => [0, n];
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

/**
 * The query rows that see key `key`, as [x, y, z, w] for [x, y) ∪ [z, w): the transpose of
 * `visibleRanges`. Mirrors `seen_by` in the shader, so the tests can check it on the host.
 */
export function visibleQueries(
  mask: AttentionMask,
  seqQ: number,
  seqK: number,
  key: number,
): [number, number, number, number] {
  const shift = seqK - seqQ;
  switch (mask.kind) {
    case "causal":
      return [Math.max(0, key - shift), seqQ, 0, 0];
    case "blockCausal": {
      const [s] = hostBlockOf(mask, seqK)(key);
      return [Math.max(0, s - shift), seqQ, 0, 0];
    }
    case "bdTrain": {
      const l = seqQ / 2;
      const blockOf = hostBlockOf(mask, l);
      if (key < l) {
        const [s, e] = blockOf(key);
        return [s, e, 0, 0];
      }
      const [s, e] = blockOf(key - l);
      return [e, l, l + s, 2 * l];
    }
    default:
      return [0, seqQ, 0, 0];
  }
}

interface Dummies {
  f32: Tensor;
  i32: Tensor;
}
const dummies = new WeakMap<Gpu, Dummies>();

/** Placeholders for bindings a dispatch does not use (each binding needs a real buffer). */
function dummy(gpu: Gpu): Dummies {
  let d = dummies.get(gpu);
  if (!d) {
    d = { f32: Tensor.empty(gpu, [4]), i32: Tensor.empty(gpu, [4], "i32") };
    dummies.set(gpu, d);
  }
  return d;
}

/** Keeps the `//#if VEC … //#else … //#endif` section that applies. */
function variant(code: string, vec: boolean): string {
  const out: string[] = [];
  let keep = true;
  for (const line of code.split("\n")) {
    const t = line.trim();
    if (t === "//#if VEC") keep = vec;
    else if (t === "//#else") keep = !vec;
    else if (t === "//#endif") keep = true;
    else if (keep) out.push(line);
  }
  return out.join("\n");
}
const SRC_VEC = variant(src, true);
const SRC_SCALAR = variant(src, false);

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

/** The block table for a block mask: none (fixed size), the prebuilt one, or a temporary upload. */
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
      `${WHAT} ${mask.kind} mask: give exactly one of blockSize, blockStarts, blocks`,
    );
  }
  if (mask.blockSize !== undefined) {
    if (!Number.isInteger(mask.blockSize) || mask.blockSize < 1) {
      throw new ShapeError(
        `${WHAT} ${mask.kind} mask: blockSize must be an integer ≥ 1, got ${mask.blockSize}`,
      );
    }
    return { size: mask.blockSize, table: null, temp: false };
  }
  if (mask.blocks) {
    if (mask.blocks.length !== n) {
      throw new ShapeError(
        `${WHAT} ${mask.kind} mask: block table covers ${mask.blocks.length} positions, the mask needs ${n}`,
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
  const n = mask.kind === "bdTrain" ? seqQ / 2 : seqK;
  const blocks = resolveBlocks(gpu, mask, n);
  const dm = dummy(gpu);

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
  const qt = rowTile(gpu);
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
      .u32(seqQ).u32(seqK).u32(heads).u32(blocks.size)
      .u32(seqQ / 2).u32(seqK - seqQ).u32(n).u32(Math.ceil(D / 4));
    for (const o of [a.q, a.k, a.v, g0, g1]) {
      u.u32((o.offset ?? 0) / unit).u32(o.rowStride / unit).u32(o.batchStride / unit).u32(
        (o.headStride ?? D) / unit,
      );
    }
    return u.u32(d / unit).u32(D / unit).f32(scale * Math.LOG2E).f32(scale)
      .u32(MODE[mask.kind]).u32(blocks.table ? 1 : 0).u32(same ? 1 : 0).u32(D).bytes();
  };
  const table = blocks.table ?? dm.i32;
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
  if (blocks.temp) blocks.table!.dispose();
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
