/**
 * Shared helpers of the GPU denoisers: one graph per call, ids uploaded, and only the logits
 * rows the sampler needs copied out of the forward pass and drawn from on the device, so a
 * step reads back draw records (docs/design.md, "Device draw record"), never logits.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { Tensor } from "@blockdiff/core";
import type { Graph, Var } from "@blockdiff/core";
import type { Dit } from "@blockdiff/model";
import { copyRowRange } from "@blockdiff/model";
import { type DrawRecord, logLinearSigma, type ProbabilityOptions } from "@blockdiff/schedules";
import { readSampleDraw, sampleDraw } from "@blockdiff/kernels";

/** Uploads ids `[B, n]` into graph `g` (freed with it). */
export function idsTensor(g: Graph, ids: ArrayLike<number>, batch: number, n: number): Tensor {
  return g.keep(Tensor.from(g.gpu, ids, [batch, n], "i32"));
}

/** σ(t) `[B]` for a time-conditioned model (log-linear, clipped), else null. */
export function sigmaTensor(g: Graph, model: Dit, batch: number, t: number): Tensor | null {
  if (!model.config.timeConditioning) return null;
  const s = logLinearSigma(t);
  return g.keep(Tensor.from(g.gpu, new Float32Array(batch).fill(s), [batch]));
}

/** Rows [start, start + count) of each batch row of the prediction, kept as `[B, count, V]`. */
interface KeptChunk {
  logits: Tensor;
  start: number;
  count: number;
  uniforms: Tensor;
  out: Tensor;
}

/**
 * Device-side draw records for the denoisers: keeps a copy of the rows of the latest
 * prediction (so `redraw` needs no network call) and runs `sampleDraw` on them, reading back
 * 5 words per row. A prediction too large for one storage binding is kept as row chunks.
 * Buffers are reused from call to call while the shapes stay the same.
 */
export class LogitsDrawer implements Disposable {
  readonly gpu: Gpu;
  #chunks: KeptChunk[] = [];
  #used = 0;
  /** Uniforms uploaded by `stage` before the prediction was recorded (one submission). */
  #staged: Tensor | null = null;
  #stagedFresh = false;
  #batch = 0;
  #seq = 0;

  constructor(gpu: Gpu) {
    this.gpu = gpu;
  }

  /** Keeps the last `n` of the S rows of logits `[B, S, V]` as the current prediction. */
  keep(logits: Var, n: number): void {
    this.begin(logits.shape[0], n);
    this.add(logits, logits.shape[1] - n, 0, n);
  }

  /**
   * Uploads the uniforms of the next `draw` now, before the prediction's passes are recorded:
   * a host write submits the work recorded before it, so writing them here (rather than in
   * `draw`) keeps the pass and the draw in one submission.
   */
  stage(uniforms: Float32Array): void {
    if (this.#staged?.size !== uniforms.length) {
      this.#staged?.dispose();
      this.#staged = Tensor.empty(this.gpu, [uniforms.length]);
    }
    this.#staged.write(uniforms);
    this.#stagedFresh = true;
  }

  /** Starts a prediction of `seq` rows per batch row, given chunk by chunk with `add`. */
  begin(batch: number, seq: number): void {
    this.#used = 0;
    this.#batch = batch;
    this.#seq = seq;
  }

  /**
   * Keeps rows [from, from + count) of logits `[B, S, V]` as rows [at, at + count) of the
   * prediction begun with `begin`.
   */
  add(logits: Var, from: number, at: number, count: number): void {
    const [B, S, V] = logits.shape;
    if (B !== this.#batch || at + count > this.#seq || from + count > S) {
      throw new RangeError(`LogitsDrawer.add: rows do not fit the prediction begun`);
    }
    let c = this.#chunks[this.#used];
    if (!c || c.logits.shape[0] !== B || c.count !== count || c.logits.shape[2] !== V) {
      if (c) { for (const t of [c.logits, c.uniforms, c.out]) t.dispose(); }
      c = {
        logits: Tensor.empty(this.gpu, [B, count, V]),
        start: at,
        count,
        uniforms: Tensor.empty(this.gpu, [B * count]),
        out: Tensor.empty(this.gpu, [5, B * count], "i32"),
      };
      this.#chunks[this.#used] = c;
    }
    c.start = at;
    this.#used++;
    copyRowRange(logits.value, c.logits, { from, at: 0, count });
  }

  /** One draw record per kept row (`[B·seq]`, row-major), with `uniforms` (one per row). */
  async draw(uniforms: Float32Array, probs: ProbabilityOptions): Promise<DrawRecord> {
    const B = this.#batch, S = this.#seq;
    if (this.#used === 0) throw new RangeError("LogitsDrawer.draw: no prediction kept yet");
    if (uniforms.length !== B * S) {
      throw new RangeError(`LogitsDrawer.draw: ${uniforms.length} uniforms for ${B * S} rows`);
    }
    const opts = {
      maskId: probs.maskId ?? -1,
      topP: probs.topP ?? 1,
      temperature: probs.temperature ?? 1,
    };
    const chunks = this.#chunks.slice(0, this.#used);
    const staged = this.#stagedFresh ? this.#staged : null;
    this.#stagedFresh = false;
    if (chunks.length === 1 && chunks[0].count === S && staged) {
      // The whole prediction in one chunk: draw with the staged uniforms, no host write.
      sampleDraw(chunks[0].logits, staged, { ...opts, out: chunks[0].out });
      return await readSampleDraw(chunks[0].out);
    }
    for (const c of chunks) {
      // Chunk row b·count + j is prediction row b·S + start + j.
      const u = new Float32Array(B * c.count);
      for (let b = 0; b < B; b++) {
        u.set(uniforms.subarray(b * S + c.start, b * S + c.start + c.count), b * c.count);
      }
      c.uniforms.write(u);
      sampleDraw(c.logits, c.uniforms, { ...opts, out: c.out });
    }
    if (chunks.length === 1) return await readSampleDraw(chunks[0].out);
    const all: DrawRecord = {
      tokens: new Int32Array(B * S),
      argmax: new Int32Array(B * S),
      prob: new Float32Array(B * S),
      maxProb: new Float32Array(B * S),
      entropy: new Float32Array(B * S),
    };
    for (const c of chunks) {
      const r = await readSampleDraw(c.out);
      for (let b = 0; b < B; b++) {
        for (const k of ["tokens", "argmax", "prob", "maxProb", "entropy"] as const) {
          (all[k] as Float32Array | Int32Array).set(
            (r[k] as Float32Array | Int32Array).subarray(b * c.count, (b + 1) * c.count),
            b * S + c.start,
          );
        }
      }
    }
    return all;
  }

  dispose(): void {
    for (const c of this.#chunks) for (const t of [c.logits, c.uniforms, c.out]) t.dispose();
    this.#chunks = [];
    this.#used = 0;
    this.#staged?.dispose();
    this.#staged = null;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
