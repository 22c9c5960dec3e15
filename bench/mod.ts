/**
 * @module
 * blockdiff's benchmarks. Each suite prints one JSON line per figure (milliseconds, GFLOP/s,
 * GB/s, ratios against a baseline or ceiling measured in the same run). Benchmarks are never
 * tests: nothing here asserts a timing.
 */
import { acquireGpu } from "@blockdiff/core/deno";
import type { Gpu } from "@blockdiff/core";
import { emit } from "./harness.ts";
import { benchMatmul } from "./kernels/matmul.ts";
import { benchAttention } from "./kernels/attention.ts";
import { benchCeiling } from "./kernels/ceiling.ts";
import { benchAttentionBackward } from "./kernels/attention_backward.ts";
import { benchTrain } from "./train.ts";
import { benchE2e } from "./e2e.ts";
import { benchWait } from "./kernels/wait.ts";
import { benchReliability } from "./reliability.ts";

export * from "./harness.ts";

/** A benchmark suite. */
export type Suite = (gpu: Gpu) => Promise<void>;

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
  e2e: (gpu) => benchE2e(gpu),
  // The matmul bench measures the ceiling first; attention reports its ratio to matmul 1024³.
  kernels: async (gpu) => {
    const { gflops1024 } = await benchMatmul(gpu);
    await benchAttention(gpu, { matmulGflops: gflops1024 });
    await benchWait(gpu);
  },
};

/** Acquires a GPU, prints the adapter record and runs the named suites (all when empty). */
export async function runBenchSuites(
  names: string[],
  opts: { adapter?: string } = {},
): Promise<void> {
  using session = await acquireGpu({ adapter: opts.adapter });
  const { gpu } = session;
  emit({
    bench: "adapter",
    case: gpu.info.name,
    ms: 0,
    software: gpu.info.isSoftware,
    features: [...gpu.device.features].filter((f) =>
      ["shader-f16", "subgroups", "timestamp-query"].includes(f)
    ),
    cpus: navigator.hardwareConcurrency,
  });
  const list = names.length ? names : ["kernels"];
  for (const name of list) await SUITES[name](gpu);
}
