/**
 * Float64 CPU reference of {@linkcode sampleDraw}: literally the host samplers' pipeline
 * (`softmaxRow` → `nucleusRow` → `drawCategorical` in `@blockdiff/schedules`), plus how far
 * each decision was from flipping, so tests can tell f32 rounding from a wrong answer.
 * @module
 */
import { argmax, drawCategorical, nucleusRow, softmaxRow } from "@blockdiff/schedules";
import type { SampleRows } from "./sample_draw.ts";

/** Options of {@linkcode sampleDrawRef} (as {@linkcode sampleDraw}'s). */
export interface SampleDrawRefOptions {
  maskId?: number;
  topP?: number;
  temperature?: number;
  rows?: SampleRows;
}

/** The reference's results per sampled row. */
export interface SampleDrawRefResult {
  tokens: Int32Array;
  argmax: Int32Array;
  prob: Float64Array;
  entropy: Float64Array;
  maxProb: Float64Array;
  /**
   * Distance of u·Σp from the nearest CDF boundary of the drawn token, over Σp (a draw within
   * f32 rounding of a boundary may legitimately pick the neighbour).
   */
  drawMargin: Float64Array;
  /**
   * Distance of topP from the nearest sorted prefix mass of p_θ (the nucleus keeps one token
   * more or less when f32 sums land on the other side); Infinity without a nucleus.
   */
  nucleusMargin: Float64Array;
}

/**
 * Samples every selected row of `logits` (`[rows, vocab]`, row-major) with its uniform, as
 * the host samplers would: p_θ = softmax(logits / T) with the mask removed, the nucleus
 * filter, then the inverse-CDF draw in index order.
 */
export function sampleDrawRef(
  logits: ArrayLike<number>,
  vocab: number,
  uniforms: ArrayLike<number>,
  opts: SampleDrawRefOptions = {},
): SampleDrawRefResult {
  const total = logits.length / vocab;
  const { seq, first, count } = opts.rows ?? { seq: total, first: 0, count: total };
  const R = (total / seq) * count;
  const topP = opts.topP ?? 1;
  const res: SampleDrawRefResult = {
    tokens: new Int32Array(R),
    argmax: new Int32Array(R),
    prob: new Float64Array(R),
    entropy: new Float64Array(R),
    maxProb: new Float64Array(R),
    drawMargin: new Float64Array(R),
    nucleusMargin: new Float64Array(R).fill(Infinity),
  };
  const p = new Float64Array(vocab);
  const q = new Float64Array(vocab);
  for (let r = 0; r < R; r++) {
    const src = Math.floor(r / count) * seq + first + (r % count);
    softmaxRow(logits, src * vocab, vocab, p, 0, opts.temperature ?? 1, opts.maskId ?? -1);
    const am = argmax(p, 0, vocab);
    res.entropy[r] = entropy(p, am);
    res.argmax[r] = am;
    res.maxProb[r] = p[am];
    q.set(p);
    if (topP < 1) {
      nucleusRow(q, 0, vocab, topP);
      res.nucleusMargin[r] = nucleusMargin(p, topP);
    }
    const u = uniforms[r];
    const tok = drawCategorical(q, u, 0, vocab);
    res.tokens[r] = tok;
    res.prob[r] = q[tok];
    res.drawMargin[r] = drawMargin(q, u, tok);
  }
  return res;
}

/**
 * −Σ p log p of a normalised row with its arg-max `am`, as `rowEntropy` in schedules but with
 * −log p_am = log1p(Σ_{i≠am} p_i / p_am): on a peaked row p_am rounds to 1 in float64 and
 * `rowEntropy` loses the term p_am·(1 − p_am), which is most of the entropy when
 * 1 − p_am < 1e-13 (the kernel, which sums Z − 1 directly, keeps it).
 */
function entropy(p: Float64Array, am: number): number {
  let h = 0;
  let rest = 0;
  for (let i = 0; i < p.length; i++) {
    if (i === am || !(p[i] > 0)) continue;
    h -= p[i] * Math.log(p[i]);
    rest += p[i] / p[am];
  }
  return h + p[am] * Math.log1p(rest);
}

/** min(topP − prefix_k, prefix_{k+1} − topP) over the descending prefix masses of p. */
function nucleusMargin(p: Float64Array, topP: number): number {
  const sorted = Float64Array.from(p).sort().reverse();
  let acc = 0;
  let margin = Infinity;
  for (const x of sorted) {
    const next = acc + x;
    if (next > topP) return Math.min(margin, next - topP);
    acc = next;
    margin = topP - acc;
  }
  return margin;
}

/** Distance of u·Σq from the CDF boundaries around token `tok`, relative to Σq. */
function drawMargin(q: Float64Array, u: number, tok: number): number {
  let sum = 0;
  for (const x of q) if (x > 0) sum += x;
  let before = 0;
  for (let i = 0; i < tok; i++) if (q[i] > 0) before += q[i];
  const goal = u * sum;
  return Math.min(goal - before, before + q[tok] - goal) / sum;
}
