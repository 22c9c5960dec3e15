/**
 * The draw record (docs/design.md, "Device draw record"): per predicted position, a token drawn
 * from p_θ with a given uniform, its probability, the arg-max and its probability, and the row's
 * entropy. It is the one currency between denoisers and inner samplers. On the GPU the
 * sample-draw kernel (`@blockdiff/kernels`, `sampleDraw`) computes it; {@link hostDrawRecords}
 * is its float64 reference, used by the kernel's tests and by host denoisers in tests and
 * CPU-side checks.
 * @module
 */
import { argmax, drawCategorical } from "./categorical.ts";
import { nucleusRow, softmaxRow } from "./probabilities.ts";

/**
 * One record per predicted position: with uniform u_i, token_i is the inverse-CDF draw from
 * row i of p_θ after the mask class is removed, temperature and the nucleus filter
 * (`toProbabilities` + `drawCategorical`), prob_i its probability under that distribution,
 * argmax_i / maxProb_i the most likely token and its probability, entropy_i the entropy (nats)
 * of the unfiltered row (mask removed, at the temperature).
 */
export interface DrawRecord {
  /** token_i: the token drawn with uniform u_i. */
  tokens: Int32Array;
  /** prob_i: the drawn token's probability under the filtered distribution. */
  prob: ArrayLike<number>;
  /** argmax_i: the most likely token of the filtered distribution. */
  argmax: Int32Array;
  /** maxProb_i: the arg-max token's probability. */
  maxProb: ArrayLike<number>;
  /** entropy_i: entropy (nats) of the unfiltered row. */
  entropy: ArrayLike<number>;
}

/**
 * Which rows of the logits to draw from: the rows are seen as `[B, seq]`, and record row
 * `b·count + j` comes from logits row `b·seq + first + j` (as the kernel's `SampleRows`).
 */
export interface DrawRows {
  /** Logits rows per batch row (the `seq` of `[B, seq]`). */
  seq: number;
  /** First logits row drawn from, within each batch row. */
  first: number;
  /** Records per batch row. */
  count: number;
}

/** Options of {@link hostDrawRecords} (as the kernel's `SampleDrawOptions`). */
export interface DrawRecordOptions {
  /** Token id removed from p_θ before drawing (default: none). */
  maskId?: number;
  /** Nucleus mass kept, in (0, 1] (default 1: no filter). */
  topP?: number;
  /** Softmax temperature (default 1). */
  temperature?: number;
  /** Which logits rows to draw from (default: every row). */
  rows?: DrawRows;
}

/** The float64 records, with how far each decision was from flipping. */
export interface HostDrawRecord extends DrawRecord {
  /** prob_i in float64. */
  prob: Float64Array;
  /** maxProb_i in float64. */
  maxProb: Float64Array;
  /** entropy_i (nats) in float64. */
  entropy: Float64Array;
  /**
   * Distance of u·Σp from the nearest CDF boundary of the drawn token, over Σp (a draw within
   * f32 rounding of a boundary may legitimately pick the neighbour on the device).
   */
  drawMargin: Float64Array;
  /**
   * Distance of topP from the nearest sorted prefix mass of p_θ (the nucleus keeps one token
   * more or less when f32 sums land on the other side); Infinity without a nucleus.
   */
  nucleusMargin: Float64Array;
}

/**
 * Draw records of every selected row of `logits` (`[rows, vocab]`, row-major), one uniform per
 * record: p_θ = softmax(logits / T) with the mask removed (`softmaxRow`), the nucleus filter
 * (`nucleusRow`), then the inverse-CDF draw in index order (`drawCategorical`), all in float64.
 */
export function hostDrawRecords(
  logits: ArrayLike<number>,
  vocab: number,
  uniforms: ArrayLike<number>,
  opts: DrawRecordOptions = {},
): HostDrawRecord {
  const total = logits.length / vocab;
  const { seq, first, count } = opts.rows ?? { seq: total, first: 0, count: total };
  const R = (total / seq) * count;
  if (uniforms.length !== R) {
    throw new RangeError(`hostDrawRecords: ${uniforms.length} uniforms for ${R} rows`);
  }
  const topP = opts.topP ?? 1;
  const res: HostDrawRecord = {
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
 * −Σ p log p of a normalised row with its arg-max `am`, as `rowEntropy` but with
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
