/**
 * Float64 reference of the attention backward: the analytic gradient of
 * o = softmax(scale · q·kᵀ + M) · v, written densely per (batch, head) from the mask
 * predicates (`maskAllowed`), independently of the kernel's interval logic. It recomputes the
 * forward itself, so it needs only q, k, v and the upstream gradient.
 * @module
 */
import type { AttentionMask } from "./attention.ts";
import { type HostOperand, maskAllowed, type RefShape } from "./attention_ref.ts";

/** Gradients `[B, Sq, H·D]` (dq) and `[B, Sk, H·D]` (dk, dv), heads concatenated head-major. */
export interface AttentionGradsRef {
  /** Gradient of the queries, `[B, Sq, H·D]`. */
  dq: Float64Array;
  /** Gradient of the keys, `[B, Sk, H·D]`. */
  dk: Float64Array;
  /** Gradient of the values, `[B, Sk, H·D]`. */
  dv: Float64Array;
}

function at(op: HostOperand, D: number, b: number, s: number, h: number, i: number): number {
  return op
    .data[(op.offset ?? 0) + b * op.batchStride + s * op.rowStride + h * (op.headStride ?? D) + i];
}

/**
 * The gradients of Σ dout ⊙ attention(q, k, v) with respect to q, k and v, in float64:
 * p = softmax over the visible keys, dv = pᵀ·dout, dp = dout·vᵀ, Δ_i = Σ_j p_ij dp_ij
 * (= dout_i · o_i), ds = p ⊙ (dp − Δ), dq = scale · ds·k, dk = scale · dsᵀ·q.
 */
export function attentionBackwardRef(
  q: HostOperand,
  k: HostOperand,
  v: HostOperand,
  dout: HostOperand,
  shape: RefShape,
  mask: AttentionMask,
): AttentionGradsRef {
  const { batch: B, heads: H, headDim: D, seqQ, seqK } = shape;
  const scale = shape.scale ?? 1 / Math.sqrt(D);
  const ok = maskAllowed(mask, seqQ, seqK);
  const d = H * D;
  const dq = new Float64Array(B * seqQ * d);
  const dk = new Float64Array(B * seqK * d);
  const dv = new Float64Array(B * seqK * d);
  const p = new Float64Array(seqK);
  const dp = new Float64Array(seqK);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let r = 0; r < seqQ; r++) {
        // Probabilities of row r.
        let max = -Infinity;
        for (let j = 0; j < seqK; j++) {
          let s = -Infinity;
          if (ok(r, j)) {
            s = 0;
            for (let i = 0; i < D; i++) s += at(q, D, b, r, h, i) * at(k, D, b, j, h, i);
            s *= scale;
          }
          p[j] = s;
          max = Math.max(max, s);
        }
        let sum = 0;
        for (let j = 0; j < seqK; j++) {
          p[j] = p[j] === -Infinity ? 0 : Math.exp(p[j] - max);
          sum += p[j];
        }
        // dp_rj = dout_r · v_j and Δ_r = Σ_j p_rj dp_rj.
        let delta = 0;
        for (let j = 0; j < seqK; j++) {
          p[j] /= sum;
          if (p[j] === 0) continue;
          let x = 0;
          for (let i = 0; i < D; i++) x += at(dout, D, b, r, h, i) * at(v, D, b, j, h, i);
          dp[j] = x;
          delta += p[j] * x;
        }
        const qo = (b * seqQ + r) * d + h * D;
        for (let j = 0; j < seqK; j++) {
          if (p[j] === 0) continue;
          const ds = p[j] * (dp[j] - delta);
          const ko = (b * seqK + j) * d + h * D;
          for (let i = 0; i < D; i++) {
            dv[ko + i] += p[j] * at(dout, D, b, r, h, i);
            dq[qo + i] += scale * ds * at(k, D, b, j, h, i);
            dk[ko + i] += scale * ds * at(q, D, b, r, h, i);
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}

/** Interleaves dq, dk, dv `[B, S, d]` into the layout of a qkv gradient `[B, S, 3d]`. */
export function packQkv(g: AttentionGradsRef, batch: number, seq: number): Float64Array {
  const d = g.dq.length / (batch * seq);
  const out = new Float64Array(batch * seq * 3 * d);
  for (let r = 0; r < batch * seq; r++) {
    out.set(g.dq.subarray(r * d, (r + 1) * d), r * 3 * d);
    out.set(g.dk.subarray(r * d, (r + 1) * d), r * 3 * d + d);
    out.set(g.dv.subarray(r * d, (r + 1) * d), r * 3 * d + 2 * d);
  }
  return out;
}
