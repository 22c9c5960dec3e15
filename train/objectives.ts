/**
 * The training / likelihood objectives (docs/design.md, "Objectives"): BD3-LM (per-block t, the
 * vectorized pass over [x_t ; x0]), MDLM (one t per sequence), AR (next-token cross-entropy) and
 * SEDD (score entropy). Noise (t and the masks) is drawn on the host from Philox streams keyed by
 * (seed, step), so a step is reproducible and the host knows x_t (the embedding's backward
 * needs the ids).
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { Tensor } from "@blockdiff/core";
import type { Graph, Var } from "@blockdiff/core";
import type { Dit } from "@blockdiff/model";
import { rowRange, tokenLoss, type TokenLossKind } from "@blockdiff/model";
import { newGraph } from "@blockdiff/model";
import { weightedSumAll } from "@blockdiff/kernels";
import { ShapeError } from "@blockdiff/core";
import type { Algo } from "@blockdiff/model";
import {
  type ClipInterval,
  DEFAULT_INTERVAL,
  logLinearSigma,
  sampleTimes,
} from "@blockdiff/schedules";
import { philoxUniformRef } from "@blockdiff/kernels";

/** Options of one loss evaluation. */
export interface ObjectiveOptions {
  /** Mask id m (the last vocabulary entry for GPT-2, [MASK] for BERT). */
  maskId: number;
  /** Noise-stream seed (with `step`, fixes every draw of t and the masks). */
  seed: number;
  /** Noise-stream step: each step draws fresh, reproducible noise. */
  step: number;
  /** Clip interval [ε_min, ε_max] for t (default (1e-3, 1)). */
  interval?: ClipInterval;
  /** Antithetic t over the batch × block grid (default true, as the reference). */
  antithetic?: boolean;
  /** Evaluation reductions: the BOS position is excluded from the denominator (ignore_bos). */
  eval?: boolean;
  /** Redraw masks of blocks whose masked fraction leaves the interval (`training.resample`). */
  resample?: boolean;
  /** Variable block boundaries (adaptive block size training), else the model's block size. */
  blockStarts?: readonly number[];
  /** Multiplies the loss (and so its gradient): 1/k for k accumulated micro-batches. */
  lossScale?: number;
  /**
   * Without gradients, project at most this many positions per row to the vocabulary at once
   * (default: as many as fit one storage binding, `Dit.logitsRowsPerChunk`).
   */
  logitsChunkRows?: number;
}

/** What one loss evaluation produced. */
export interface ObjectiveResult {
  /** Scalar loss Var: Σ weighted per-token losses / number of counted tokens. */
  loss: Var;
  /** Per-token losses before weighting, `[B·L′]` (for metrics and the clip search). */
  perToken: Tensor;
  /** The per-token weights used (1/t / N, or 1/N). */
  weights: Float32Array;
  /** Tokens in the denominator. */
  tokens: number;
  /** Per-block t, `[B, K]` (diffusion objectives). */
  t: Float64Array;
  /** Block starts used. */
  blockStarts: number[];
  /** The noised input x_t `[B, L]` (diffusion objectives). */
  xt: Int32Array;
}

/** A batch of clean sequences `[B, L]`. */
export interface TokenBatch {
  /** Token ids, row-major `[batch, length]`. */
  ids: Int32Array;
  /** Number of sequences B. */
  batch: number;
  /** Tokens per sequence L. */
  length: number;
}

function blockStartsFor(length: number, blockSize: number, starts?: readonly number[]): number[] {
  if (starts) return [...starts];
  if (length % blockSize !== 0) {
    throw new ShapeError(`block size ${blockSize} does not divide the sequence length ${length}`);
  }
  return Array.from({ length: length / blockSize }, (_, i) => i * blockSize);
}

/**
 * Forward masking (docs/design.md, "Forward masking"): x_t = m where u ≤ t (u uniform per token),
 * else x0; then, with
 * `resample`, blocks whose masked fraction lies outside [ε_min, ε_max] are redrawn (fresh
 * uniforms, same t) until every block fits or 1000 rounds pass.
 */
export function maskTokens(
  x0: Int32Array,
  batch: number,
  length: number,
  starts: readonly number[],
  tPerBlock: Float64Array,
  maskId: number,
  seed: number,
  step: number,
  interval: ClipInterval,
  resample: boolean,
): Int32Array {
  const k = starts.length;
  const xt = new Int32Array(x0.length);
  const tTok = new Float64Array(x0.length);
  for (let b = 0; b < batch; b++) {
    for (let j = 0; j < k; j++) {
      const end = j + 1 < k ? starts[j + 1] : length;
      for (let i = starts[j]; i < end; i++) tTok[b * length + i] = tPerBlock[b * k + j];
    }
  }
  const u = philoxUniformRef(x0.length, [seed >>> 0, 0], [step >>> 0, 2]);
  for (let i = 0; i < x0.length; i++) xt[i] = u[i] <= tTok[i] ? maskId : x0[i];
  const exactDefault = Math.fround(interval.min) === Math.fround(1e-3) && interval.max === 1;
  if (!resample || exactDefault) return xt;
  const lowOnly = Math.fround(interval.min) === Math.fround(1e-3); // only frac > ε_max redrawn
  const highOnly = interval.max === 1; // only frac < ε_min redrawn
  for (let round = 0; round < 1000; round++) {
    const redraw: [number, number, number][] = [];
    for (let b = 0; b < batch; b++) {
      for (let j = 0; j < k; j++) {
        const s = b * length + starts[j];
        const e = b * length + (j + 1 < k ? starts[j + 1] : length);
        let masked = 0;
        for (let i = s; i < e; i++) if (xt[i] === maskId) masked++;
        const frac = masked / (e - s);
        const tooHigh = frac > interval.max, tooLow = frac < interval.min;
        const bad = lowOnly ? tooHigh : highOnly ? tooLow : tooHigh || tooLow;
        if (bad) redraw.push([s, e, tPerBlock[b * k + j]]);
      }
    }
    if (redraw.length === 0) break;
    const fresh = philoxUniformRef(x0.length, [seed >>> 0, 0], [step >>> 0, 3 + round]);
    // The redraw compares strictly (u < p), as the reference's `_resample_q_xt` does.
    for (const [s, e, t] of redraw) {
      for (let i = s; i < e; i++) {
        xt[i] = fresh[i] < t ? maskId : x0[i];
      }
    }
  }
  return xt;
}

/** Per-block t for a batch (antithetic, clipped), from the step's Philox stream. */
export function drawTimes(
  batch: number,
  blocks: number,
  seed: number,
  step: number,
  interval: ClipInterval,
  antithetic: boolean,
): Float64Array {
  const u = philoxUniformRef(batch * blocks, [seed >>> 0, 0], [step >>> 0, 1]);
  return sampleTimes(u, interval, antithetic);
}

/** Evaluates the model's objective on a batch inside graph `g` (backward-ready when g.grad). */
export function objectiveLoss(
  g: Graph,
  model: Dit,
  data: TokenBatch,
  opts: ObjectiveOptions,
): ObjectiveResult {
  const algo: Algo = model.config.algo;
  if (algo === "ar") return arLoss(g, model, data, opts);
  return diffusionLoss(g, model, data, opts);
}

function upload(gpu: Gpu, data: ArrayLike<number>, shape: number[], dtype: "i32" | "f32"): Tensor {
  return Tensor.from(gpu, data, shape, dtype);
}

function arLoss(g: Graph, model: Dit, data: TokenBatch, opts: ObjectiveOptions): ObjectiveResult {
  const { batch: B, length: L, ids } = data;
  const n = L - 1;
  const inp = new Int32Array(B * n), tgt = new Int32Array(B * n);
  for (let b = 0; b < B; b++) {
    inp.set(ids.subarray(b * L, b * L + n), b * n);
    tgt.set(ids.subarray(b * L + 1, (b + 1) * L), b * n);
  }
  const idsT = g.keep(upload(g.gpu, inp, [B, n], "i32"));
  const weights = new Float32Array(B * n).fill((opts.lossScale ?? 1) / (B * n)); // no ignore_bos for AR
  const { total, perRow } = headLoss(
    g,
    model,
    { ids: idsT, idsHost: inp, dropoutOffset: opts.step, dropoutSeed: opts.seed },
    { kind: "causal" },
    weights,
    opts.logitsChunkRows,
    (rows) => ({ kind: "subs", targets: rows.i32(tgt), maskId: opts.maskId }),
  );
  return {
    loss: total,
    perToken: perRow,
    weights,
    tokens: B * n,
    t: new Float64Array(0),
    blockStarts: [],
    xt: inp,
  };
}

function diffusionLoss(
  g: Graph,
  model: Dit,
  data: TokenBatch,
  opts: ObjectiveOptions,
): ObjectiveResult {
  const c = model.config;
  const { batch: B, length: L, ids: x0 } = data;
  const interval = opts.interval ?? DEFAULT_INTERVAL;
  const blockSize = c.algo === "bd3lm" ? c.blockSize : L;
  const starts = blockStartsFor(L, blockSize, c.algo === "bd3lm" ? opts.blockStarts : undefined);
  const K = starts.length;
  const t = drawTimes(B, K, opts.seed, opts.step, interval, opts.antithetic ?? true);
  const xt = maskTokens(
    x0,
    B,
    L,
    starts,
    t,
    opts.maskId,
    opts.seed,
    opts.step,
    interval,
    opts.resample ?? false,
  );
  for (let b = 0; b < B; b++) xt[b * L] = x0[b * L]; // ignore_bos: the first token stays visible
  const tTok = new Float64Array(B * L);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < K; j++) {
      const end = j + 1 < K ? starts[j + 1] : L;
      for (let i = starts[j]; i < end; i++) tTok[b * L + i] = t[b * K + j];
    }
  }
  // Denominator: every token in training; without the BOS position in evaluation.
  const counted = opts.eval ? B * (L - 1) : B * L;
  const scale = (opts.lossScale ?? 1) / counted;
  const weights = new Float32Array(B * L);
  const targets = new Int32Array(B * L);
  for (let i = 0; i < B * L; i++) {
    const bos = opts.eval && i % L === 0;
    const masked = xt[i] === opts.maskId;
    targets[i] = masked && !bos ? x0[i] : -1;
    if (c.algo === "sedd") {
      // SEDD: ℓ = dσ · entropy with dσ = expm1(σ)/t; weight 1/N here, dσ inside the kernel.
      weights[i] = bos ? 0 : scale;
    } else {
      weights[i] = bos ? 0 : scale / tTok[i];
    }
  }
  let input: Int32Array;
  let mode: Parameters<Dit["forward"]>[2];
  if (c.algo === "bd3lm") {
    input = new Int32Array(B * 2 * L);
    for (let b = 0; b < B; b++) {
      input.set(xt.subarray(b * L, (b + 1) * L), b * 2 * L);
      input.set(x0.subarray(b * L, (b + 1) * L), b * 2 * L + L);
    }
    mode = { kind: "bdTrain", blockStarts: opts.blockStarts };
  } else {
    input = xt;
    mode = { kind: "full" };
  }
  const seqIn = input.length / B;
  const idsT = g.keep(upload(g.gpu, input, [B, seqIn], "i32"));
  // σ of each sequence's first token; only SEDD is time-conditioned.
  const sigmaHost = new Float32Array(B).map((_, b) => logLinearSigma(tTok[b * L]));
  const sigma = c.timeConditioning ? g.keep(upload(g.gpu, sigmaHost, [B], "f32")) : null;
  const forwardInput = {
    ids: idsT,
    idsHost: input,
    sigma,
    dropoutSeed: opts.seed,
    dropoutOffset: opts.step,
  };
  let result;
  if (c.algo === "sedd") {
    const sig = new Float32Array(B * L), dsig = new Float32Array(B * L);
    for (let i = 0; i < B * L; i++) {
      const tt = tTok[i];
      const s = logLinearSigma(tt);
      sig[i] = s;
      dsig[i] = Math.expm1(s) / tt; // 1/(1−t) unclipped, 999/t once σ is clipped
    }
    result = headLoss(g, model, forwardInput, mode, weights, opts.logitsChunkRows, (rows) => ({
      kind: "sedd",
      inputs: {
        xt: rows.i32(xt),
        x0: rows.i32(x0),
        sigma: rows.f32(sig),
        dsigma: rows.f32(dsig),
        maskId: opts.maskId,
      },
    }));
  } else {
    result = headLoss(
      g,
      model,
      forwardInput,
      mode,
      weights,
      opts.logitsChunkRows,
      (rows) => ({ kind: "subs", targets: rows.i32(targets), maskId: opts.maskId }),
    );
  }
  return {
    loss: result.total,
    perToken: result.perRow,
    weights,
    tokens: counted,
    t,
    blockStarts: starts,
    xt,
  };
}

/** Per-position host arrays restricted to the rows of one logits chunk, uploaded into `g`. */
interface ChunkRows {
  i32(host: Int32Array): Tensor;
  f32(host: Float32Array): Tensor;
}

/**
 * The output layer and the token loss over every position of the forward pass: logits
 * `[B, S, V]` in one piece when they fit a storage binding (or gradients are needed), else, in
 * evaluation, projected and scored in chunks of positions so that a long sequence times a
 * large vocabulary (1024 × 50258 f32 = 206 MB) also runs on adapters with a 128 MiB binding
 * limit. `kind` builds the loss inputs from per-position host arrays (`[B·S]`, row-major).
 */
function headLoss(
  g: Graph,
  model: Dit,
  input: Parameters<Dit["forward"]>[1],
  mode: Parameters<Dit["forward"]>[2],
  weights: Float32Array,
  chunkRows: number | undefined,
  kind: (rows: ChunkRows) => TokenLossKind,
): { total: Var; perRow: Tensor } {
  const gpu = g.gpu;
  const V = model.config.vocab;
  const B = input.ids.shape[0];
  const S = weights.length / B;
  const fit = model.logitsRowsPerChunk(B);
  const step = g.grad ? fit : Math.min(chunkRows ?? fit, fit);
  if (S <= step || g.grad) {
    if (S > fit) {
      throw new ShapeError(
        `the logits of ${B}×${S} positions × ${V} tokens (${B * S * V * 4} bytes) exceed this ` +
          `adapter's ${gpu.device.limits.maxStorageBufferBindingSize}-byte storage binding ` +
          "limit, which training needs in one piece: lower the batch or the length, or use a GPU",
      );
    }
    const logits = model.forward(g, input, mode);
    const flat = g.wrap(logits.value.reshape([B * S, V]), true);
    // The reshape shares the buffer; route its gradient back to the logits Var.
    g.onBackward(() => {
      if (flat.grad) g.passGrad(logits, g.keep(flat.grad.reshape(logits.shape)));
    });
    const all: ChunkRows = {
      i32: (h) => g.keep(upload(gpu, h, [B * S], "i32")),
      f32: (h) => g.keep(upload(gpu, h, [B * S], "f32")),
    };
    return tokenLoss(g, flat, kind(all), g.keep(upload(gpu, weights, [B * S], "f32")));
  }
  const { h, cvec } = model.hidden(g, input, mode);
  const perRow = g.keep(Tensor.zeros(gpu, [B * S]));
  for (let s0 = 0; s0 < S; s0 += step) {
    const n = Math.min(step, S - s0);
    // Chunk row b·n + j is position b·S + s0 + j.
    const pick = <T extends Int32Array | Float32Array>(host: T): T => {
      const out = new (host.constructor as { new (n: number): T })(B * n);
      for (let b = 0; b < B; b++) out.set(host.subarray(b * S + s0, b * S + s0 + n), b * n);
      return out;
    };
    using gc = newGraph(gpu, { grad: false });
    const rows: ChunkRows = {
      i32: (x) => gc.keep(upload(gpu, pick(x), [B * n], "i32")),
      f32: (x) => gc.keep(upload(gpu, pick(x), [B * n], "f32")),
    };
    const logits = model.logits(gc, rowRange(gc, h, s0, n), cvec);
    const flat = gc.wrap(logits.value.reshape([B * n, V]), false);
    const r = tokenLoss(gc, flat, kind(rows), gc.keep(upload(gpu, pick(weights), [B * n], "f32")));
    for (let b = 0; b < B; b++) {
      gpu.copy(
        r.perRow.buffer,
        r.perRow.offset + b * n * 4,
        perRow.buffer,
        perRow.offset + (b * S + s0) * 4,
        n * 4,
      );
    }
  }
  const w = g.keep(upload(gpu, weights, [B * S], "f32"));
  return { total: g.wrap(weightedSumAll(perRow, w), true), perRow };
}
