/**
 * Where a sampling step spends its GPU time: one BD3-LM denoising step with the KV cache
 * (context 1024 by default) is timed kernel by kernel with timestamp queries (`Gpu.profile`),
 * and one JSON line per kernel gives its milliseconds per step and share of the step. This is
 * the profile the e2e figures are read against when choosing what to optimise next.
 * @module
 */
import { type Gpu, Tensor } from "@blockdiff/core";
import { modelConfig } from "@blockdiff/model/io";
import { Dit, halfWeightsPay, newGraph, ParamSet } from "@blockdiff/model";
import { emit } from "./harness.ts";

/** Options of the profile. */
export interface ProfileOptions {
  size?: "micro" | "tiny" | "small";
  context?: number;
  blockSize?: number;
  batch?: number;
  /** Steps profiled (after one untimed step). */
  steps?: number;
}

/** Profiles a cached denoising step; prints one line per kernel, largest first. */
export async function benchProfile(gpu: Gpu, opts: ProfileOptions = {}): Promise<void> {
  if (!gpu.features.timestampQuery) {
    emit({
      bench: "profile",
      case: "skipped",
      ms: 0,
      skipped: "no timestamp-query on this adapter",
    });
    return;
  }
  const { size = "tiny", context = 1024, blockSize = 4, batch = 1, steps = 4 } = opts;
  const config = modelConfig({ size, algo: "bd3lm", length: context, blockSize, dropout: 0 });
  using params = ParamSet.init(gpu, config, 1);
  using model = new Dit(gpu, params);
  if (halfWeightsPay(gpu)) await model.useHalfWeights();
  const caches = model.createCaches(batch, context);
  const prompt = context - blockSize;
  {
    using g = newGraph(gpu, { grad: false });
    const ids = new Int32Array(batch * prompt).map((_, i) => (i * 7919) % (config.vocab - 1));
    model.prefill(g, g.keep(Tensor.from(gpu, ids, [batch, prompt], "i32")), caches, { blockSize });
    await gpu.sync();
  }
  const step = async () => {
    using g = newGraph(gpu, { grad: false });
    const block = new Int32Array(batch * blockSize).fill(config.vocab - 1);
    const ids = g.keep(Tensor.from(gpu, block, [batch, blockSize], "i32"));
    await model.forwardCached(g, ids, caches).value.read();
  };
  await step();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await step();
  const wallMs = (performance.now() - t0) / steps;
  const prof = gpu.profile();
  for (let i = 0; i < steps; i++) await step();
  const times = await prof.stop();
  const gpuMs = times.reduce((a, t) => a + t.ms, 0) / steps;
  const label = `${size} ctx=${context} L'=${blockSize} batch=${batch}`;
  emit({
    bench: "profile",
    case: `${label} step`,
    ms: wallMs,
    gpu_ms: gpuMs,
    dispatches: times.reduce((a, t) => a + t.count, 0) / steps,
    note: "gpu_ms sums the kernels' timestamps (each in its own pass while profiling)",
  });
  for (const t of times) {
    emit({
      bench: "profile",
      case: `${label} ${t.label}`,
      ms: t.ms / steps,
      dispatches: t.count / steps,
      share: t.ms / steps / gpuMs,
    });
  }
  for (const c of caches) c.dispose();
}
