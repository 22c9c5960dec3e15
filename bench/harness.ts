/**
 * Benchmark harness: times GPU work to completion (median of several runs after warm-up)
 * and prints one JSON line per measurement. Benchmarks check their result against a
 * reference before timing it, so a kernel that writes garbage cannot report a speed-up.
 * @module
 */
import type { Gpu } from "@blockdiff/core";

/** One printed measurement. Extra fields (gflops, gbps, ratios, …) are free-form. */
export interface BenchRecord {
  bench: string;
  case: string;
  ms: number;
  [key: string]: unknown;
}

/** Options of `timeGpu`. */
export interface TimeOptions {
  /** Untimed runs first (pipeline creation, caches). */
  warmup?: number;
  /** Timed runs; the median is reported. */
  iters?: number;
  /** Stop adding timed runs after this many milliseconds (at least 3 runs are kept). */
  budgetMs?: number;
}

/**
 * Median wall-clock milliseconds of `run` (which records GPU work) including its completion
 * on the GPU. Each run is submitted and awaited on its own.
 */
export async function timeGpu(gpu: Gpu, run: () => void, opts: TimeOptions = {}): Promise<number> {
  const { warmup = 1, iters = 5, budgetMs = 20_000 } = opts;
  for (let i = 0; i < warmup; i++) {
    run();
    await gpu.sync();
  }
  const times: number[] = [];
  const start = performance.now();
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    run();
    await gpu.sync();
    times.push(performance.now() - t0);
    if (times.length >= 3 && performance.now() - start > budgetMs) break;
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/** Prints one JSON line (numbers rounded to 4 significant digits). */
export function emit(record: BenchRecord): void {
  const round = (v: unknown): unknown =>
    typeof v === "number" && Number.isFinite(v) && !Number.isInteger(v)
      ? Number(v.toPrecision(4))
      : v;
  console.log(
    JSON.stringify(Object.fromEntries(Object.entries(record).map(([k, v]) => [k, round(v)]))),
  );
}
