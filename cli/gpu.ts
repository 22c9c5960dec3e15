/**
 * The GPU of the commands that run models (`sample`, `eval`, `train`, `serve`, `demo`,
 * `tune-schedule`, `reproduce`): `acquireGpu` plus the adapter's matmul and attention tuning,
 * read from the user's cache or measured once (a few seconds) when there is none. `BLOCKDIFF_TUNE=0` keeps
 * the fixed kernel rules, `BLOCKDIFF_TUNE=force` retunes; `BLOCKDIFF_CACHE_DIR` moves the cache.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { type Dit, halfWeightsPay } from "@blockdiff/model";
import { acquireGpu, type GpuSession } from "@blockdiff/core/deno";
import { loadOrTuneAttention, loadOrTuneMatmul } from "@blockdiff/kernels/deno";

/** Gives `gpu` its cached (or freshly measured) kernel tuning; progress goes to stderr. */
export async function tuneGpu(gpu: Gpu): Promise<void> {
  const log = (line: string) => console.error(line);
  await loadOrTuneMatmul(gpu, { log });
  await loadOrTuneAttention(gpu, { log });
}

/** Acquires the GPU (see `acquireGpu`) and applies the adapter's kernel tuning (`tuneGpu`). */
export async function acquireTunedGpu(adapter?: string): Promise<GpuSession> {
  const session = await acquireGpu({ adapter });
  try {
    await tuneGpu(session.gpu);
  } catch (e) {
    session.release();
    throw e;
  }
  return session;
}

/**
 * Whether sampling keeps f16 copies of the weights (`Dit.useHalfWeights`): `halfWeightsPay`
 * (hardware adapters with `shader-f16`), unless `BLOCKDIFF_HALF_WEIGHTS=1` / `0` says otherwise.
 */
export function wantHalfWeights(gpu: Gpu): boolean {
  const env = Deno.env.get("BLOCKDIFF_HALF_WEIGHTS");
  if (env === "1") return gpu.features.f16;
  if (env === "0") return false;
  return halfWeightsPay(gpu);
}

/** Applies `wantHalfWeights` to a model used for sampling. */
export async function prepareForSampling(model: Dit): Promise<void> {
  if (wantHalfWeights(model.gpu)) await model.useHalfWeights();
}
