/**
 * Categorical sampling on the device (docs/design.md, "Device draw record"): one token id per row
 * of logits, drawn by inverse CDF with a host-made uniform after the mask class is removed,
 * temperature and the nucleus filter, with the row's entropy, confidence and arg-max alongside. A
 * sampler then reads back 5 words per row instead of V probabilities. Same contract as
 * `toProbabilities` + `drawCategorical` in `@blockdiff/schedules` (see sample_draw_ref.ts).
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import src from "./sample_draw.wgsl" with { type: "text" };

/** Lanes per row: a power of two (tree reductions and scans halve / double it). */
const WG = 256;
/** Cap on the nucleus search passes; 10 suffice (9-way search over 2^30 bit patterns). */
const MAX_PASSES = 16;

/** Words per row of the packed output: token, argmax, prob, entropy, maxProb. */
export const SAMPLE_DRAW_FIELDS = 5;

/**
 * Which rows of the logits to sample: the logits' rows (all axes but the last, flattened) are
 * seen as `[B, seq]`, and output row `b·count + j` samples logits row `b·seq + first + j`
 * (`j < count`). E.g. the last n positions of `[B, S, V]` logits: `{ seq: S, first: S − n,
 * count: n }`. Default: every row, in order.
 */
export interface SampleRows {
  /** Rows per group (a divisor of the logits' row count). */
  seq: number;
  /** First row used in each group. */
  first: number;
  /** Rows used per group (`first + count ≤ seq`). */
  count: number;
}

/** Options of {@linkcode sampleDraw}; the distribution is `toProbabilities`' in schedules. */
export interface SampleDrawOptions {
  /** The mask id, whose probability is 0 (it is never drawn); −1 or omitted: none. */
  maskId?: number;
  /**
   * Nucleus mass in (0, 1]; 1 (default) keeps everything. Kept: the longest prefix of the
   * tokens sorted by probability whose mass is ≤ topP, at least the top-1; ties at the cut keep
   * the lowest ids (`nucleusRow`).
   */
  topP?: number;
  /** Softmax temperature ≥ 0 (default 1); 0 is greedy (the arg-max, prob 1, entropy 0). */
  temperature?: number;
  /** The rows to sample (default: all). */
  rows?: SampleRows;
  /** Packed output, i32 `[5, R]` (see {@linkcode sampleDraw}). */
  out?: Tensor;
}

/** The unpacked output of {@linkcode sampleDraw}, one entry per sampled row. */
export interface SampleDrawResult {
  /** Drawn ids. */
  tokens: Int32Array;
  /** Arg-max ids of p_θ (lowest id on ties; never the mask id). */
  argmax: Int32Array;
  /** p(token) under the filtered, renormalised distribution the draw used. */
  prob: Float32Array;
  /**
   * Natural-log entropy of the unfiltered p_θ (mask removed, at the temperature; 0 at T = 0),
   * i.e. `rowEntropy` of `toProbabilities` without topP. (The samplers' `entropyStop` does not
   * need it: it measures the unigram entropy of the committed ids.)
   */
  entropy: Float32Array;
  /** Largest probability of the unfiltered p_θ (the model's confidence). */
  maxProb: Float32Array;
}

function checkRows(rows: SampleRows | undefined, total: number): SampleRows {
  const r = rows ?? { seq: Math.max(total, 1), first: 0, count: total };
  const { seq, first, count } = r;
  const ok = [seq, first, count].every(Number.isInteger) && seq > 0 && first >= 0 &&
    count >= 0 && first + count <= seq && total % seq === 0;
  if (!ok) {
    throw new ShapeError(
      `sampleDraw: rows {seq: ${seq}, first: ${first}, count: ${count}} do not fit ${total} ` +
        "logits rows (need seq | rows and first + count ≤ seq)",
    );
  }
  return r;
}

/**
 * Draws one token per selected row of `logits` with the row's uniform, on the device, and
 * returns the packed results: an i32 tensor `[5, R]`, planar, so one readback fetches all:
 *
 * | row of out | content                                                            |
 * | ---------- | ------------------------------------------------------------------ |
 * | 0          | token (i32): first id whose CDF over the kept p exceeds u·Σp       |
 * | 1          | argmax (i32) of p_θ                                                |
 * | 2          | p(token) (f32 bits), under the filtered, renormalised distribution |
 * | 3          | entropy (f32 bits, nats) of the unfiltered p_θ                     |
 * | 4          | max p_θ (f32 bits)                                                 |
 *
 * Read it with {@linkcode readSampleDraw} or {@linkcode unpackSampleDraw}. Logits must be
 * finite or −inf, with a finite one outside the mask in every row.
 * @param logits f32 `[..., V]`
 * @param uniforms f32 `[R]` in [0, 1), one per sampled row (R = rows.count · groups)
 */
export function sampleDraw(
  logits: Tensor,
  uniforms: Tensor,
  opts: SampleDrawOptions = {},
): Tensor {
  const gpu: Gpu = logits.gpu;
  logits.expectDtype("f32", "sampleDraw logits");
  uniforms.expectDtype("f32", "sampleDraw uniforms");
  if (logits.shape.length === 0) throw new ShapeError("sampleDraw: logits must have an axis");
  const n = logits.shape[logits.shape.length - 1];
  if (n === 0) throw new ShapeError("sampleDraw: the vocabulary axis is empty");
  const total = logits.size / n;
  const { seq, first, count } = checkRows(opts.rows, total);
  const R = (total / seq) * count;
  if (uniforms.size !== R) {
    throw new ShapeError(
      `sampleDraw: uniforms ${formatShape(uniforms.shape)} for ${R} sampled rows`,
    );
  }
  const mask = opts.maskId ?? -1;
  if (!Number.isInteger(mask) || mask < -1 || mask >= n) {
    throw new ShapeError(`sampleDraw: maskId ${mask} is outside [-1, ${n})`);
  }
  if (mask >= 0 && n === 1) throw new ShapeError("sampleDraw: the mask is the only token");
  const topP = opts.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) {
    throw new RangeError(`sampleDraw: topP must be in (0, 1], got ${topP}`);
  }
  const temperature = opts.temperature ?? 1;
  if (!(Number.isFinite(temperature) && temperature >= 0)) {
    throw new RangeError(`sampleDraw: temperature must be finite and ≥ 0, got ${temperature}`);
  }
  const out = opts.out ?? Tensor.empty(gpu, [SAMPLE_DRAW_FIELDS, R], "i32");
  out.expectDtype("i32", "sampleDraw out");
  out.expectShape([SAMPLE_DRAW_FIELDS, R], "sampleDraw out");
  if (out.buffer === logits.buffer || out.buffer === uniforms.buffer) {
    throw new ShapeError("sampleDraw: out must not share a buffer with the inputs");
  }
  if (R === 0) return out;
  const kernel = gpu.kernel({
    name: "sample_draw",
    code: src,
    params: { WG },
    bindings: ["read", "read", "write", "uniform"],
  });
  const u = new Uniforms()
    .u32(R).u32(n).u32(seq).u32(first).u32(count).i32(mask)
    .f32(temperature > 0 ? 1 / temperature : 0).u32(temperature > 0 ? 0 : 1)
    .f32(topP).u32(MAX_PASSES).f32(-Infinity).u32(WG);
  gpu.dispatch(kernel, [logits, uniforms, out], u.bytes(), grid1d(R, 1));
  return out;
}

/** Splits the packed words of {@linkcode sampleDraw}'s output (`[5, R]`) into its fields. */
export function unpackSampleDraw(packed: Int32Array, rows: number): SampleDrawResult {
  if (packed.length < SAMPLE_DRAW_FIELDS * rows) {
    throw new ShapeError(`unpackSampleDraw: ${packed.length} words for ${rows} rows`);
  }
  const b = packed.buffer;
  const at = (f: number) => packed.byteOffset + f * rows * 4;
  return {
    tokens: new Int32Array(b, at(0), rows),
    argmax: new Int32Array(b, at(1), rows),
    prob: new Float32Array(b, at(2), rows),
    entropy: new Float32Array(b, at(3), rows),
    maxProb: new Float32Array(b, at(4), rows),
  };
}

/** Reads {@linkcode sampleDraw}'s output back (one copy) and unpacks it. */
export async function readSampleDraw(out: Tensor): Promise<SampleDrawResult> {
  out.expectDtype("i32", "readSampleDraw");
  if (out.shape.length !== 2 || out.shape[0] !== SAMPLE_DRAW_FIELDS) {
    throw new ShapeError(`readSampleDraw: expected [5, R], got ${formatShape(out.shape)}`);
  }
  return unpackSampleDraw(await out.read() as Int32Array, out.shape[1]);
}
