/**
 * Matmul benchmark: every kernel variant against the naive kernel and TensorFlow.js's WebGPU
 * backend running on the same `GPUDevice`, at 512³, 1024³ and the vocabulary projection of a
 * small model (M = 256 tokens, K = 128, N = 50258, weight stored [N, K]). Each result is
 * checked against a float64 dot product before it is timed. Then a fresh `tuneMatmul` run:
 * one line per shape class with the variant it chose and each candidate's milliseconds.
 * @module
 */
import { type Gpu, Rng, Tensor } from "@blockdiff/core";
import {
  matmul,
  MATMUL_SHAPE_CLASSES,
  matmulNaive,
  matmulRuleVariant,
  type MatmulTuning,
  type MatmulTuningShape,
  type MatmulVariant,
  matmulVariantFor,
  tuneMatmul,
} from "@blockdiff/kernels";
import { benchCeiling } from "./ceiling.ts";
import { emit, timeGpu } from "../harness.ts";

interface Size {
  name: string;
  m: number;
  k: number;
  n: number;
  transB: boolean;
}

const SIZES: Size[] = [
  { name: "512^3", m: 512, k: 512, n: 512, transB: false },
  { name: "1024^3", m: 1024, k: 1024, n: 1024, transB: false },
  { name: "M256 K128 N50258 (transB)", m: 256, k: 128, n: 50258, transB: true },
];

// The naive kernel runs at ~0.1 GFLOP/s on a CPU driver: 1024³ would take ~20 s a run, so on
// software adapters it is measured once at this size and compared per FLOP.
const NAIVE_SOFTWARE_SIZE = 512;

/** Relative error of sampled rows of C against float64 dot products. */
function sampledError(
  c: Float32Array,
  a: Float32Array,
  b: Float32Array,
  s: Size,
  rows: number[],
): number {
  let num = 0;
  let den = 0;
  for (const i of rows) {
    for (let j = 0; j < s.n; j++) {
      let want = 0;
      for (let p = 0; p < s.k; p++) {
        want += a[i * s.k + p] * b[s.transB ? j * s.k + p : p * s.n + j];
      }
      num += (c[i * s.n + j] - want) ** 2;
      den += want * want;
    }
  }
  return Math.sqrt(num / den);
}

function sampleRows(m: number): number[] {
  const rows = new Set([0, m - 1]);
  for (let i = 1; i < 14; i++) rows.add(Math.floor((i * m) / 14));
  return [...rows];
}

/** Throws unless the output is close to the reference (so wrong kernels report nothing). */
function verify(c: Float32Array, a: Float32Array, b: Float32Array, s: Size, what: string): number {
  const err = sampledError(c, a, b, s, sampleRows(s.m));
  if (!(err < 1e-4)) throw new Error(`${what} at ${s.name}: relative error ${err} against float64`);
  return err;
}

// tfjs is loaded on demand, pinned here rather than in deno.json because only this benchmark
// uses it; a failed load (offline registry) then becomes a "skipped" record, not a crash.
type Tf = typeof import("npm:@tensorflow/tfjs-core@4.22.0");
let tf: Tf;

async function tfjsBackend(gpu: Gpu): Promise<string | null> {
  try {
    // deno-lint-ignore no-import-prefix
    tf = await import("npm:@tensorflow/tfjs-core@4.22.0");
    // deno-lint-ignore no-import-prefix
    const { WebGPUBackend } = await import("npm:@tensorflow/tfjs-backend-webgpu@4.22.0");
    // tfjs registers its kernels under the backend name "webgpu", so our device's backend takes
    // that name (replacing the factory that would open its own adapter).
    if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
    tf.registerBackend("webgpu", () => new WebGPUBackend(gpu.device), 100);
    if (!(await tf.setBackend("webgpu"))) return "tf.setBackend returned false";
    await tf.ready();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Times tfjs matMul to completion (its readback of C included; small next to the compute). */
async function timeTfjs(a: Float32Array, b: Float32Array, s: Size, iters: number) {
  const ta = tf.tensor2d(a, [s.m, s.k]);
  const tb = tf.tensor2d(b, s.transB ? [s.n, s.k] : [s.k, s.n]);
  const run = async () => {
    const t0 = performance.now();
    const c = tf.matMul(ta, tb, false, s.transB);
    const data = await c.data() as Float32Array;
    c.dispose();
    return { ms: performance.now() - t0, data };
  };
  const first = await run(); // warm-up (shader compile) and the correctness check
  const err = verify(first.data, a, b, s, "tfjs");
  const times: number[] = [];
  for (let i = 0; i < iters; i++) times.push((await run()).ms);
  times.sort((x, y) => x - y);
  ta.dispose();
  tb.dispose();
  return { ms: times[Math.floor(times.length / 2)], err };
}

/**
 * Prints one JSON line per kernel and size: ms, GFLOP/s, fraction of the FMA ceiling and
 * speed ratios against the naive kernel and TensorFlow.js measured in the same run.
 */
export async function benchMatmul(gpu: Gpu): Promise<{ gflops1024: number }> {
  const ceiling = await benchCeiling(gpu);
  let gflops1024 = NaN;
  const soft = gpu.info.isSoftware;
  const variants: MatmulVariant[] = gpu.features.subgroups && gpu.info.subgroupMinSize >= 8
    ? ["subgroup", "tiled"]
    : ["tiled"];
  const tfError = await tfjsBackend(gpu);
  if (tfError) {
    emit({ bench: "matmul", case: "tfjs", ms: NaN, skipped: `tfjs unavailable: ${tfError}` });
  }
  const rng = new Rng(1234);

  // Per-FLOP naive baseline on software adapters (see NAIVE_SOFTWARE_SIZE).
  let naiveSoftGflops = 0;
  if (soft) {
    const q = NAIVE_SOFTWARE_SIZE;
    const s: Size = { name: `${q}^3`, m: q, k: q, n: q, transB: false };
    const av = rng.normals(q * q), bv = rng.normals(q * q);
    using a = Tensor.from(gpu, av, [q, q]);
    using b = Tensor.from(gpu, bv, [q, q]);
    using out = Tensor.empty(gpu, [q, q]);
    matmulNaive(a, b, { out });
    const err = verify(await out.readFloat(), av, bv, s, "naive");
    const ms = await timeGpu(gpu, () => matmulNaive(a, b, { out }), { warmup: 0, iters: 1 });
    naiveSoftGflops = (2 * q ** 3) / ms / 1e6;
    emit({
      bench: "matmul",
      case: s.name,
      kernel: "naive",
      ms,
      gflops: naiveSoftGflops,
      rel_err: err,
    });
  }

  for (const s of SIZES) {
    const flops = 2 * s.m * s.n * s.k;
    const av = rng.normals(s.m * s.k), bv = rng.normals(s.k * s.n);
    using a = Tensor.from(gpu, av, [s.m, s.k]);
    using b = Tensor.from(gpu, bv, s.transB ? [s.n, s.k] : [s.k, s.n]);
    using out = Tensor.empty(gpu, [s.m, s.n]);
    const transB = s.transB;

    let naiveGflops = naiveSoftGflops;
    let naiveNote = `naive measured at ${NAIVE_SOFTWARE_SIZE}^3, compared per FLOP`;
    if (!soft) {
      matmulNaive(a, b, { transB, out });
      const err = verify(await out.readFloat(), av, bv, s, "naive");
      const ms = await timeGpu(gpu, () => matmulNaive(a, b, { transB, out }), { iters: 3 });
      naiveGflops = flops / ms / 1e6;
      naiveNote = "same size";
      emit({
        bench: "matmul",
        case: s.name,
        kernel: "naive",
        ms,
        gflops: naiveGflops,
        rel_err: err,
      });
    }

    let tfGflops = NaN;
    if (!tfError) {
      try {
        const r = await timeTfjs(av, bv, s, soft && flops > 1e9 ? 1 : 3);
        tfGflops = flops / r.ms / 1e6;
        emit({
          bench: "matmul",
          case: s.name,
          kernel: "tfjs-webgpu@4.22.0",
          ms: r.ms,
          gflops: tfGflops,
          rel_err: r.err,
        });
      } catch (e) {
        emit({
          bench: "matmul",
          case: s.name,
          kernel: "tfjs-webgpu@4.22.0",
          ms: NaN,
          skipped: (e as Error).message,
        });
      }
    }

    const auto = matmulVariantFor(gpu, s.m);
    for (const variant of variants) {
      matmul(a, b, { transB, out, variant });
      const err = verify(await out.readFloat(), av, bv, s, variant);
      const slow = soft && variant !== auto;
      const ms = await timeGpu(gpu, () => matmul(a, b, { transB, out, variant }), {
        iters: slow ? 3 : 5,
        budgetMs: 10_000,
      });
      const gflops = flops / ms / 1e6;
      if (variant === auto && s.m === 1024 && s.k === 1024 && s.n === 1024) gflops1024 = gflops;
      emit({
        bench: "matmul",
        case: s.name,
        kernel: variant,
        default: variant === auto,
        ms,
        gflops,
        of_fma_ceiling: gflops / ceiling.fmaGflops,
        vs_naive: gflops / naiveGflops,
        naive_baseline: naiveNote,
        vs_tfjs: gflops / tfGflops,
        rel_err: err,
      });
    }
  }
  await benchMatmulTuning(gpu);
  return { gflops1024 };
}

const fmtShape = (s: MatmulTuningShape) => `M${s.m} K${s.k} N${s.n}${s.transB ? " (transB)" : ""}`;

/**
 * Tunes matmul afresh on this adapter (`tuneMatmul`; the registered table is left alone) and
 * prints one line per shape class: the chosen variant and its ms (summed over the class's
 * products), every candidate's ms, the fixed rules' pick and what `matmulVariantFor` picks
 * now (the registered table's choice when one applies, else the rules').
 */
export async function benchMatmulTuning(gpu: Gpu): Promise<MatmulTuning> {
  const t0 = performance.now();
  const table = await tuneMatmul(gpu);
  const tuningS = (performance.now() - t0) / 1000;
  for (const cls of MATMUL_SHAPE_CLASSES) {
    const c = table.classes[cls];
    if (!c) {
      emit({ bench: "matmul-tuning", case: cls, ms: NaN, skipped: "no candidate passed" });
      continue;
    }
    const s = c.shapes[0];
    const hint = { transB: s.transB, k: s.k };
    emit({
      bench: "matmul-tuning",
      case: cls,
      kernel: c.variant,
      ms: c.ms[c.variant] ?? NaN,
      candidates_ms: Object.fromEntries(
        Object.entries(c.ms).map(([v, ms]) => [v, Number(ms.toPrecision(4))]),
      ),
      rule: matmulRuleVariant(gpu, s.m, hint),
      active: matmulVariantFor(gpu, s.m, hint),
      shapes: c.shapes.map(fmtShape).join(" + "),
      failed: c.failed,
      tuning_s: tuningS,
    });
  }
  return table;
}

if (import.meta.main) {
  const { acquireGpu } = await import("@blockdiff/core/deno");
  using session = await acquireGpu();
  await benchMatmul(session.gpu);
}
