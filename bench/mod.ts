/**
 * @module
 * blockdiff's benchmarks. Each suite prints one JSON line per figure (milliseconds, GFLOP/s,
 * GB/s, ratios against a baseline or ceiling measured in the same run). Benchmarks are never
 * tests: nothing here asserts a timing.
 */
import { acquireGpu } from "@blockdiff/core/deno";
import { loadOrTuneAttention, loadOrTuneMatmul } from "@blockdiff/kernels/deno";
import type { Gpu } from "@blockdiff/core";
import { emit, recorded, writeReport } from "./harness.ts";
import { benchMatmul } from "./kernels/matmul.ts";
import { benchAttention } from "./kernels/attention.ts";
import { benchCeiling } from "./kernels/ceiling.ts";
import { benchAttentionBackward } from "./kernels/attention_backward.ts";
import { benchTrain } from "./train.ts";
import { benchE2e, type E2eOptions } from "./e2e.ts";
import { benchProfile } from "./profile.ts";
import { benchWait } from "./kernels/wait.ts";
import { benchReliability } from "./reliability.ts";
import { benchReleased } from "./released.ts";
import { benchWordBaseline } from "./word_baseline.ts";

export * from "./harness.ts";
export type { Ceilings, E2eOptions, E2eSize } from "./e2e.ts";

/** Options some suites read (the others ignore them). */
export interface BenchOptions {
  /** Options of the `e2e` suite. */
  e2e?: E2eOptions;
}

/** A benchmark suite. */
export type Suite = (gpu: Gpu, opts: BenchOptions) => Promise<void>;

/** The suites by name; `kernels` runs the ceiling, matmul and attention benches. */
export const SUITES: Record<string, Suite> = {
  ceiling: async (gpu) => void await benchCeiling(gpu),
  matmul: async (gpu) => void await benchMatmul(gpu),
  attention: (gpu) => benchAttention(gpu),
  "attention-backward": (gpu) => benchAttentionBackward(gpu),
  wait: (gpu) => benchWait(gpu),
  // Hostile files and kills run on the host (the kill scenario starts its own bd3 processes).
  reliability: async () => void await benchReliability(),
  train: (gpu) => benchTrain(gpu),
  e2e: (gpu, opts) => benchE2e(gpu, opts.e2e),
  // The English-word share a context-free sampler reaches (the floor under `eval --words`).
  words: () => benchWordBaseline(),
  // The released checkpoints' shape (small, L 1024, GPT-2 vocabulary): load, memory, speed, eval.
  released: (gpu, opts) =>
    benchReleased(gpu, { tokens: opts.e2e?.tokensCached, pytorch: opts.e2e?.pytorch }),
  // Per-kernel GPU time of one cached sampling step (timestamp queries).
  profile: (gpu, opts) =>
    benchProfile(gpu, {
      size: opts.e2e?.sizes?.[0],
      context: opts.e2e?.context,
      batch: opts.e2e?.batches?.[0],
    }),
  // The matmul bench measures the ceiling first; attention reports its ratio to matmul 1024³.
  kernels: async (gpu) => {
    const { gflops1024 } = await benchMatmul(gpu);
    await benchAttention(gpu, { matmulGflops: gflops1024 });
    await benchWait(gpu);
  },
};

/**
 * Acquires a GPU, applies its cached matmul and attention tuning (tuning once when there is
 * none; see `loadOrTuneMatmul`, `loadOrTuneAttention`), prints the adapter record and runs the named suites (all when empty).
 */
export async function runBenchSuites(
  names: string[],
  opts: { adapter?: string; report?: string } & BenchOptions = {},
): Promise<void> {
  using session = await acquireGpu({ adapter: opts.adapter });
  const { gpu } = session;
  const log = (line: string) => console.error(line);
  const tuning = await loadOrTuneMatmul(gpu, { log });
  const attentionTuning = await loadOrTuneAttention(gpu, { log });
  emit({
    bench: "adapter",
    case: gpu.info.name,
    ms: 0,
    software: gpu.info.isSoftware,
    features: [...gpu.device.features].filter((f) =>
      ["shader-f16", "subgroups", "timestamp-query"].includes(f)
    ),
    cpus: navigator.hardwareConcurrency,
    matmul_tuning: tuning.source,
    attention_tuning: attentionTuning.source,
  });
  const list = names.length ? names : ["kernels"];
  const started = new Date().toISOString();
  const first = recorded().length;
  for (const name of list) await SUITES[name](gpu, opts);
  if (opts.report) {
    await writeReport(opts.report, {
      adapter: { ...gpu.info },
      features: [...gpu.device.features],
      cpus: navigator.hardwareConcurrency,
      suites: list,
      options: opts.e2e ?? {},
      started,
      finished: new Date().toISOString(),
      records: recorded().slice(first),
    });
  }
}
// The runtime type the harness takes, so this entry's documentation is whole.
export type * from "@blockdiff/core";
