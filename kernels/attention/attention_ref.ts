/**
 * Float64 reference of masked multi-head attention. The masks are written as predicates
 * (one per (query, key); docs/design.md, "Masks"), independently of the interval form the
 * kernel uses, so the tests check one against the other.
 * @module
 */
import type { AttentionMask } from "./attention.ts";

/** A host array with the same strided layout as an `AttentionOperand`. */
export interface HostOperand {
  /** The elements. */
  data: ArrayLike<number>;
  /** Elements between consecutive positions. */
  rowStride: number;
  /** Elements between consecutive batch rows. */
  batchStride: number;
  /** Index of the first element (default 0). */
  offset?: number;
  /** Elements between consecutive heads (default D). */
  headStride?: number;
}

/** Block index of a position: floor(pos / b), or the number of block starts ≤ pos, minus one. */
function blockIndex(
  mask: {
    blockSize?: number;
    blockStarts?: readonly number[];
    blocks?: { starts: readonly number[] };
  },
) {
  const starts = mask.blocks?.starts ?? mask.blockStarts;
  if (starts) return (pos: number) => starts.filter((s) => s <= pos).length - 1;
  const b = mask.blockSize!;
  return (pos: number) => Math.floor(pos / b);
}

/** May query row q see key k? (docs/design.md, "Masks".) */
export function maskAllowed(
  mask: AttentionMask,
  seqQ: number,
  seqK: number,
): (q: number, k: number) => boolean {
  switch (mask.kind) {
    case "full":
    case "cached":
      return () => true;
    case "causal":
      return (q, k) => k <= q + seqK - seqQ;
    case "blockCausal": {
      const blk = blockIndex(mask);
      return (q, k) => blk(k) <= blk(q + seqK - seqQ);
    }
    case "bdTrain": {
      const L = seqQ / 2;
      const pos = blockIndex(mask);
      const half = (i: number) => (i < L ? 0 : 1);
      const blk = (i: number) => pos(i < L ? i : i - L);
      return (q, k) => {
        const bd = half(q) === half(k) && blk(q) === blk(k);
        const obc = half(q) === 0 && half(k) === 1 && blk(q) > blk(k);
        const bc = half(q) === 1 && half(k) === 1 && blk(q) >= blk(k);
        return bd || obc || bc;
      };
    }
  }
}

/** The dense boolean mask, row = query, column = key (true = attend). */
export function maskMatrix(mask: AttentionMask, seqQ: number, seqK: number): boolean[][] {
  const ok = maskAllowed(mask, seqQ, seqK);
  return Array.from({ length: seqQ }, (_, q) => Array.from({ length: seqK }, (_, k) => ok(q, k)));
}

/** Shape of a reference call. */
export interface RefShape {
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
  /** Softmax scale, 1/√D when omitted. */
  scale?: number;
}

function at(op: HostOperand, D: number, b: number, s: number, h: number, i: number): number {
  return op
    .data[(op.offset ?? 0) + b * op.batchStride + s * op.rowStride + h * (op.headStride ?? D) + i];
}

/**
 * softmax(scale · q·kᵀ + M) · v per head in float64. Returns out `[B, Sq, H·D]` and the
 * natural-log log-sum-exp of the scaled visible scores `[B, H, Sq]`.
 */
export function attentionRef(
  q: HostOperand,
  k: HostOperand,
  v: HostOperand,
  shape: RefShape,
  mask: AttentionMask,
  rows?: readonly number[],
): { out: Float64Array; lse: Float64Array } {
  const { batch: B, heads: H, headDim: D, seqQ, seqK } = shape;
  const scale = shape.scale ?? 1 / Math.sqrt(D);
  const ok = maskAllowed(mask, seqQ, seqK);
  const out = new Float64Array(B * seqQ * H * D);
  const lse = new Float64Array(B * H * seqQ);
  const scores = new Float64Array(seqK);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (const r of rows ?? Array.from({ length: seqQ }, (_, i) => i)) {
        let max = -Infinity;
        for (let j = 0; j < seqK; j++) {
          if (!ok(r, j)) {
            scores[j] = -Infinity;
            continue;
          }
          let s = 0;
          for (let i = 0; i < D; i++) s += at(q, D, b, r, h, i) * at(k, D, b, j, h, i);
          scores[j] = s * scale;
          max = Math.max(max, scores[j]);
        }
        let sum = 0;
        for (let j = 0; j < seqK; j++) {
          scores[j] = scores[j] === -Infinity ? 0 : Math.exp(scores[j] - max);
          sum += scores[j];
        }
        const o = (b * seqQ + r) * H * D + h * D;
        for (let j = 0; j < seqK; j++) {
          if (scores[j] === 0) continue;
          const w = scores[j] / sum;
          for (let i = 0; i < D; i++) out[o + i] += w * at(v, D, b, j, h, i);
        }
        lse[(b * H + h) * seqQ + r] = max + Math.log(sum);
      }
    }
  }
  return { out, lse };
}
