/**
 * Per-adapter tuning of `attention`, as `tuneMatmul` does for matmul: `tuneAttention` times
 * every variant that can run a shape class on this adapter, on representative calls, and
 * returns a JSON-serialisable table of the fastest; `setAttentionTuning` registers it, and
 * `attention` then follows it instead of the defaults (`ATTENTION_DEFAULTS`). Web-standard;
 * storing tables is the caller's business (`loadOrTuneAttention` of `@blockdiff/kernels/deno`).
 * @module
 */
import { DeviceLostError, type Gpu, mulberry32, Tensor } from "@blockdiff/core";
import { tuneClass } from "../_tune_class.ts";
import {
  attention,
  ATTENTION_KERNELS_ID,
  type AttentionOperand,
  qkvOperands,
} from "./attention.ts";
import { attentionRef } from "./attention_ref.ts";
import {
  ATTENTION_SHAPE_CLASSES,
  ATTENTION_TUNING_FORMAT,
  attentionCandidates,
  type AttentionClassTuning,
  attentionRuleVariant,
  type AttentionShapeClass,
  attentionShapeClass,
  type AttentionTuning,
  type AttentionTuningShape,
  type AttentionVariant,
} from "./tuning_table.ts";
import { matmulAdapterIdentity } from "../matmul/tuning_table.ts";

export * from "./tuning_table.ts";

/**
 * The calls `tuneAttention` times by default, GPT-2-small-sized heads (12 of 64): decoding one
 * query row against a 1024-key cache, and 256 rows of full attention (a training block).
 */
export const DEFAULT_ATTENTION_TUNING_SHAPES: Readonly<
  Record<AttentionShapeClass, AttentionTuningShape[]>
> = {
  decode: [{ seqQ: 1, seqK: 1024, heads: 12, headDim: 64 }],
  tiled: [{ seqQ: 256, seqK: 256, heads: 12, headDim: 64 }],
};

/** Options of `tuneAttention`. */
export interface TuneAttentionOptions {
  /** Calls to time per class (defaults: `DEFAULT_ATTENTION_TUNING_SHAPES`); [] skips a class. */
  shapes?: Partial<Record<AttentionShapeClass, AttentionTuningShape[]>>;
  /** Timed samples per candidate and call; the fastest is kept. Default 5. */
  rounds?: number;
  /** Milliseconds one sample should last (fast calls repeat within it). Default 4. */
  sampleMs?: number;
  /** The default is kept unless another candidate is faster by more than this. Default 0.1. */
  margin?: number;
  /** Seed of the random operands. */
  seed?: number;
}

/** Relative error (2-norm) above which a candidate's output counts as wrong. */
const TOLERANCE = 1e-4;

/** Uniform operands in [-1, 1) from the seeded mulberry32 source of core. */
function uniforms(n: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2 * next() - 1;
  return out;
}

/** The mask a class's calls use: the decode class reads a KV cache. */
function maskOf(cls: AttentionShapeClass) {
  return cls === "decode" ? { kind: "cached" as const } : { kind: "full" as const };
}

/**
 * Times the candidates on one call (batch 1, q, k and v out of one qkv tensor). Each first runs
 * untimed and has its first and last query rows compared with a float64 reference; a candidate
 * that fails to compile, run or match is reported in `failed` and not timed.
 */
async function timeShape(
  gpu: Gpu,
  cls: AttentionShapeClass,
  s: AttentionTuningShape,
  candidates: AttentionVariant[],
  opts: { rounds: number; sampleMs: number; seed: number },
) {
  const d = s.heads * s.headDim;
  const data = uniforms(s.seqK * 3 * d, opts.seed);
  using qkv = Tensor.from(gpu, data, [1, s.seqK, 3 * d]);
  using out = Tensor.empty(gpu, [1, s.seqQ, d]);
  const ops = qkvOperands(qkv, s.heads);
  // The queries are the last Sq positions, as in a KV cache.
  const q = { ...ops.q, offset: (s.seqK - s.seqQ) * 3 * d };
  const shape = { batch: 1, heads: s.heads, headDim: s.headDim, seqQ: s.seqQ, seqK: s.seqK };
  const mask = maskOf(cls);
  const host = (o: AttentionOperand) => ({ ...o, data });
  const rows = [...new Set([0, s.seqQ - 1])];
  const ref = attentionRef(host(q), host(ops.k), host(ops.v), shape, mask, rows).out;
  const run = (variant: AttentionVariant) =>
    attention({ ...shape, q, k: ops.k, v: ops.v, mask, out, variant });

  const failed: Partial<Record<AttentionVariant, string>> = {};
  const passed: AttentionVariant[] = [];
  const firstMs: number[] = [];
  for (const variant of candidates) {
    try {
      out.write(new Float32Array(s.seqQ * d).fill(NaN));
      run(variant);
      const got = await out.readFloat();
      let num = 0, den = 0;
      for (const r of rows) {
        for (let i = r * d; i < (r + 1) * d; i++) {
          num += (got[i] - ref[i]) ** 2;
          den += ref[i] ** 2;
        }
      }
      const err = Math.sqrt(num / Math.max(den, 1e-30));
      if (!(err < TOLERANCE)) {
        throw new Error(`relative error ${err.toExponential(2)} against float64`);
      }
      const t0 = performance.now();
      run(variant);
      await gpu.sync();
      firstMs.push(performance.now() - t0);
      passed.push(variant);
    } catch (e) {
      if (e instanceof DeviceLostError) throw e;
      failed[variant] = (e as Error).message.split("\n")[0];
    }
  }
  const ms: Partial<Record<AttentionVariant, number>> = {};
  if (passed.length === 0) return { ms, failed };
  const reps = Math.min(64, Math.max(1, Math.ceil(opts.sampleMs / Math.max(...firstMs, 1e-3))));
  const samples = new Map<AttentionVariant, number[]>(passed.map((v) => [v, []]));
  for (let r = 0; r < opts.rounds; r++) {
    // Interleaved in a rotating order, so drifting load hits every candidate alike.
    for (let i = 0; i < passed.length; i++) {
      const variant = passed[(i + r) % passed.length];
      const t0 = performance.now();
      for (let j = 0; j < reps; j++) run(variant);
      await gpu.sync();
      samples.get(variant)!.push((performance.now() - t0) / reps);
    }
  }
  for (const [v, xs] of samples) ms[v] = Math.min(...xs);
  return { ms, failed };
}

/**
 * Measures which attention variant is fastest for each shape class on `gpu`'s adapter and
 * returns the table (it does not register it: call `setAttentionTuning`). The default choice
 * (`attentionRuleVariant`) is kept unless another correct candidate beats it by more than
 * `margin`; a class whose candidates all fail is left out, so the defaults decide it. Records
 * and syncs GPU work of its own, so call it when nothing else is pending.
 */
export async function tuneAttention(
  gpu: Gpu,
  opts: TuneAttentionOptions = {},
): Promise<AttentionTuning> {
  const shapes = { ...DEFAULT_ATTENTION_TUNING_SHAPES, ...opts.shapes };
  const timing = { rounds: opts.rounds ?? 5, sampleMs: opts.sampleMs ?? 4, seed: opts.seed ?? 1 };
  const margin = opts.margin ?? 0.1;
  await gpu.sync();
  const classes: Partial<Record<AttentionShapeClass, AttentionClassTuning>> = {};
  for (const cls of ATTENTION_SHAPE_CLASSES) {
    const list = shapes[cls] ?? [];
    if (list.length === 0) continue;
    for (const s of list) {
      if (attentionShapeClass({ ...s, mask: maskOf(cls).kind, vec: true }) !== cls) {
        throw new RangeError(`tuneAttention: ${JSON.stringify(s)} is not a '${cls}' call`);
      }
    }
    const candidates = attentionCandidates(gpu, cls);
    const choice = await tuneClass(
      list,
      candidates,
      attentionRuleVariant(gpu, cls),
      margin,
      (s, live) => timeShape(gpu, cls, s, live, timing),
    );
    if (choice) classes[cls] = choice;
  }
  return {
    format: ATTENTION_TUNING_FORMAT,
    kernels: ATTENTION_KERNELS_ID,
    adapter: matmulAdapterIdentity(gpu),
    tunedAt: new Date().toISOString(),
    classes,
  };
}
