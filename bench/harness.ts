/**
 * Benchmark harness: times GPU work to completion (median of several runs after warm-up)
 * and prints one JSON line per measurement. Benchmarks check their result against a
 * reference before timing it, so a kernel that writes garbage cannot report a speed-up.
 * @module
 */
import type { Gpu } from "@blockdiff/core";

/** One printed measurement. Extra fields (gflops, gbps, ratios, …) are free-form. */
export interface BenchRecord {
  /** The suite that measured it. */
  bench: string;
  /** What was measured, within the suite. */
  case: string;
  /** Time of the measured case (the median of the timed runs where a suite repeats it), ms. */
  ms: number;
  /** Suite-specific figures. */
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

const records: BenchRecord[] = [];

/** Prints one JSON line (numbers rounded to 4 significant digits) and keeps it for the report. */
export function emit(record: BenchRecord): void {
  const round = (v: unknown): unknown =>
    typeof v === "number" && Number.isFinite(v) && !Number.isInteger(v)
      ? Number(v.toPrecision(4))
      : v;
  const r = Object.fromEntries(Object.entries(record).map(([k, v]) => [k, round(v)]));
  records.push(r as BenchRecord);
  console.log(JSON.stringify(r));
}

/** Every record emitted so far in this process, in order. */
export function recorded(): readonly BenchRecord[] {
  return records;
}

/** Writes a JSON report atomically (temp file, then rename), creating its folder. */
export async function writeReport(path: string, report: unknown): Promise<void> {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeTextFile(tmp, JSON.stringify(report, null, 1) + "\n");
  await Deno.rename(tmp, path);
}
