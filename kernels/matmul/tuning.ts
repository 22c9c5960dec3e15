/**
 * Per-adapter tuning of `matmul`: `tuneMatmul` times every kernel variant that can run a shape
 * class on this adapter, on representative products, and returns a JSON-serialisable table
 * of the fastest; `setMatmulTuning` registers a table for a `Gpu`, and `matmulVariantFor`
 * then follows it instead of its fixed rules. Web-standard only (it runs in a browser too):
 * storing tables is the caller's business (`loadOrTuneMatmul` of `@blockdiff/kernels/deno`
 * keeps them in a file per adapter).
 * @module
 */
import { DeviceLostError, type Gpu, mulberry32, Tensor } from "@blockdiff/core";
import { tuneClass } from "../_tune_class.ts";
import { matmul, MATMUL_KERNELS_ID, matmulRuleVariant, type MatmulVariant } from "./matmul.ts";
import {
  MATMUL_SHAPE_CLASSES,
  MATMUL_TUNING_FORMAT,
  matmulAdapterIdentity,
  matmulCandidates,
  type MatmulClassTuning,
  type MatmulShapeClass,
  matmulShapeClass,
  type MatmulTuning,
  type MatmulTuningShape,
} from "./tuning_table.ts";

export * from "./tuning_table.ts";

/**
 * The products `tuneMatmul` times by default: a Linear layer of a GPT-2-small-sized model
 * (768 → 3072) for 4 rows and for 1 row, a 768-square product for 4 rows with B not
 * transposed, and 512 rows of a 768 → 768 Linear layer: 2.5–7 s on lavapipe with 2 cores.
 */
export const DEFAULT_MATMUL_TUNING_SHAPES: Readonly<Record<MatmulShapeClass, MatmulTuningShape[]>> =
  {
    "few-rows-linear": [
      { m: 4, n: 3072, k: 768, transB: true },
      { m: 1, n: 3072, k: 768, transB: true },
    ],
    "few-rows": [{ m: 4, n: 768, k: 768, transB: false }],
    "many-rows": [{ m: 512, n: 768, k: 768, transB: true }],
  };

/** Options of `tuneMatmul`. */
export interface TuneMatmulOptions {
  /**
   * Products to time per class (defaults: `DEFAULT_MATMUL_TUNING_SHAPES`). A class given an
   * empty list is not tuned, so the fixed rules keep deciding it.
   */
  shapes?: Partial<Record<MatmulShapeClass, MatmulTuningShape[]>>;
  /**
   * Timed samples per candidate and product; the fastest is kept (other work on the machine
   * only ever slows a sample down). Default 5.
   */
  rounds?: number;
  /**
   * Milliseconds one timed sample should last: a product faster than this is repeated within
   * the sample (one submission), so submission overhead does not decide. Default 4.
   */
  sampleMs?: number;
  /**
   * The fixed rules' choice is kept unless another candidate is faster by more than this
   * fraction, so timing noise does not flip choices between runs. Default 0.1.
   */
  margin?: number;
  /** Seed of the random operands. */
  seed?: number;
}

/** Relative error (2-norm) above which a candidate's output counts as wrong. */
const TOLERANCE = 1e-4;
/** Most rows of a product checked against a float64 reference. */
const CHECKED_ROWS = 6;

/** Uniform operands in [-1, 1) (core's seeded generator, not the test helpers). */
function uniforms(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 2 * rand() - 1;
  return out;
}

/** Relative 2-norm error of `got` against `want`. */
function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return den > 0 ? Math.sqrt(num / den) : Math.sqrt(num);
}

/** Float64 reference of a few rows of C (first, last and evenly spaced ones between). */
function referenceRows(s: MatmulTuningShape, a: Float32Array, b: Float32Array) {
  const rows = [
    ...new Set(
      Array.from(
        { length: Math.min(CHECKED_ROWS, s.m) },
        (_, i) => Math.round((i * (s.m - 1)) / Math.max(1, Math.min(CHECKED_ROWS, s.m) - 1)),
      ),
    ),
  ];
  const want = new Float64Array(rows.length * s.n);
  rows.forEach((i, r) => {
    for (let j = 0; j < s.n; j++) {
      let acc = 0;
      for (let p = 0; p < s.k; p++) acc += a[i * s.k + p] * b[s.transB ? j * s.k + p : p * s.n + j];
      want[r * s.n + j] = acc;
    }
  });
  return { rows, want };
}

function pickRows(c: Float32Array, n: number, rows: number[]): Float32Array {
  const out = new Float32Array(rows.length * n);
  rows.forEach((i, r) => out.set(c.subarray(i * n, (i + 1) * n), r * n));
  return out;
}

/** Per candidate on one product: milliseconds of one run (best sample), or why it failed. */
interface ShapeResult {
  ms: Partial<Record<MatmulVariant, number>>;
  failed: Partial<Record<MatmulVariant, string>>;
}

/**
 * Times the candidates on one product. Each first runs once untimed and has its whole output
 * compared with the first candidate that passed and sampled rows with a float64 reference;
 * a candidate that fails to compile, run or match is reported in `failed` and not timed.
 */
async function timeShape(
  gpu: Gpu,
  s: MatmulTuningShape,
  candidates: MatmulVariant[],
  opts: Required<Omit<TuneMatmulOptions, "shapes" | "margin">>,
): Promise<ShapeResult> {
  const av = uniforms(s.m * s.k, opts.seed);
  const bv = uniforms(s.k * s.n, opts.seed + 1);
  using a = Tensor.from(gpu, av, [s.m, s.k]);
  using b = Tensor.from(gpu, bv, s.transB ? [s.n, s.k] : [s.k, s.n]);
  using out = Tensor.empty(gpu, [s.m, s.n]);
  const ref = referenceRows(s, av, bv);
  const failed: Partial<Record<MatmulVariant, string>> = {};
  const passed: MatmulVariant[] = [];
  const firstMs: number[] = [];
  let agreed: Float32Array | null = null;
  const run = (variant: MatmulVariant) => matmul(a, b, { transB: s.transB, out, variant });

  for (const variant of candidates) {
    try {
      out.write(new Float32Array(s.m * s.n).fill(NaN));
      run(variant);
      const c = await out.readFloat();
      const refErr = relError(pickRows(c, s.n, ref.rows), ref.want);
      if (!(refErr < TOLERANCE)) {
        throw new Error(`relative error ${refErr.toExponential(2)} against float64`);
      }
      if (agreed) {
        const err = relError(c, agreed);
        if (!(err < TOLERANCE)) {
          throw new Error(`differs from ${passed[0]} by ${err.toExponential(2)} (relative)`);
        }
      } else agreed = c;
      // Untimed warm-up beyond the checking run, which also sizes the samples.
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

  const ms: Partial<Record<MatmulVariant, number>> = {};
  if (passed.length === 0) return { ms, failed };
  const best = Math.max(Math.min(...firstMs), 1e-3);
  const reps = Math.min(64, Math.max(1, Math.ceil(opts.sampleMs / best)));
  // A candidate whose warm-up took over 3× the best one's cannot win: one sample shows by
  // how much it loses without spending seconds on it.
  const rounds = passed.map((_, i) => (firstMs[i] > 3 * best ? 1 : opts.rounds));
  const samples = new Map<MatmulVariant, number[]>(passed.map((v) => [v, []]));
  for (let r = 0; r < opts.rounds; r++) {
    // Interleaved, in a rotating order, so drifting load on a shared machine hits all alike.
    for (let i = 0; i < passed.length; i++) {
      const at = (i + r) % passed.length;
      if (r >= rounds[at]) continue;
      const variant = passed[at];
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
 * Measures which matmul variant is fastest for each shape class on `gpu`'s adapter and returns
 * the table (it does not register it: call `setMatmulTuning`). For each class, every candidate
 * (`matmulCandidates`) is checked against the others and a float64 reference, warmed up
 * untimed, then timed on the class's products; the class's `ms` per candidate are sums over
 * its products of best-sample times, and the fastest correct candidate is chosen (the fixed
 * rules' pick unless another beats it by more than `margin`). A class whose candidates all fail is
 * left out, so the rules decide it. Takes a few seconds on a CPU driver; records and syncs GPU
 * work of its own, so call it when nothing else is pending.
 */
export async function tuneMatmul(gpu: Gpu, opts: TuneMatmulOptions = {}): Promise<MatmulTuning> {
  const shapes = { ...DEFAULT_MATMUL_TUNING_SHAPES, ...opts.shapes };
  const timing = { rounds: opts.rounds ?? 5, sampleMs: opts.sampleMs ?? 4, seed: opts.seed ?? 1 };
  const margin = opts.margin ?? 0.1;
  await gpu.sync();
  const classes: Partial<Record<MatmulShapeClass, MatmulClassTuning>> = {};
  for (const cls of MATMUL_SHAPE_CLASSES) {
    const list = shapes[cls] ?? [];
    if (list.length === 0) continue;
    for (const s of list) {
      if (matmulShapeClass(s.m, { transB: s.transB, k: s.k }) !== cls) {
        throw new RangeError(`tuneMatmul: ${JSON.stringify(s)} is not a '${cls}' product`);
      }
    }
    const candidates = matmulCandidates(gpu, cls);
    const choice = await tuneClass(
      list,
      candidates,
      matmulRuleVariant(gpu, list[0].m, { transB: list[0].transB, k: list[0].k }),
      margin,
      (s, live) => timeShape(gpu, s, live, timing),
    );
    if (choice) classes[cls] = choice;
  }
  return {
    format: MATMUL_TUNING_FORMAT,
    kernels: MATMUL_KERNELS_ID,
    adapter: matmulAdapterIdentity(gpu),
    tunedAt: new Date().toISOString(),
    classes,
  };
}
