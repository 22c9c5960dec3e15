/**
 * Deno side of attention tuning, the twin of `loadOrTuneMatmul`: `loadOrTuneAttention` reads
 * this adapter's attention table from the user's cache (tuning it once when missing or stale)
 * and registers it. The file handling and the `BLOCKDIFF_TUNE` switch are core's
 * (`loadOrTune` of `@blockdiff/core/deno`); the file is `tuning-<hash>.json` like matmul's,
 * the hash taken over the adapter identity plus `table: "attention"` so the two never collide.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import {
  type LoadedTuning,
  loadOrTune,
  readJsonFile,
  tuneModeFor,
  tuningCachePath,
} from "@blockdiff/core/deno";
import { ATTENTION_KERNELS_ID } from "./attention.ts";
import {
  type AttentionTuning,
  attentionTuningApplies,
  parseAttentionTuning,
  setAttentionTuning,
  tuneAttention,
  type TuneAttentionOptions,
} from "./tuning.ts";
import { matmulAdapterIdentity } from "../matmul/tuning_table.ts";

/** Options of `loadOrTuneAttention` (as those of `loadOrTuneMatmul`). */
export interface LoadOrTuneAttentionOptions {
  /** Directory of the tuning file; default `$BLOCKDIFF_CACHE_DIR`, then the user's cache. */
  cacheDir?: string;
  /** Retune even when a valid file exists; default: `BLOCKDIFF_TUNE=force`. */
  retune?: boolean;
  /** Use the defaults only (nothing read, tuned or written); default: `BLOCKDIFF_TUNE=0`. */
  disabled?: boolean;
  /** Options of the tuning run. */
  tune?: TuneAttentionOptions;
  /** Receives a progress line before tuning starts and a warning if saving fails. */
  log?: (line: string) => void;
}

/** What names the attention table's file: the adapter, marked as attention's. */
function identity(gpu: Gpu) {
  return { ...matmulAdapterIdentity(gpu), table: "attention" };
}

/**
 * Gives `gpu` its attention tuning table: the cached one when the file holds a valid table
 * for these kernels and this adapter, else a fresh `tuneAttention` run (under a second on a
 * CPU driver), saved atomically. With tuning disabled any registered table is removed, so the
 * defaults decide. Call it once after acquiring the GPU, before recording work.
 */
export async function loadOrTuneAttention(
  gpu: Gpu,
  opts: LoadOrTuneAttentionOptions = {},
): Promise<LoadedTuning<AttentionTuning>> {
  const r = await loadOrTune<AttentionTuning>({
    identity: identity(gpu),
    parse: (json) => {
      const t = parseAttentionTuning(json);
      return t && attentionTuningApplies(t, gpu, ATTENTION_KERNELS_ID) ? t : null;
    },
    tune: () => tuneAttention(gpu, opts.tune),
    cacheDir: opts.cacheDir,
    mode: tuneModeFor(opts),
    onTune: (path) =>
      opts.log?.(
        `tuning attention kernels for ${gpu.info.name} (once per adapter${
          path ? `; cached in ${path}` : ""
        })…`,
      ),
  });
  setAttentionTuning(gpu, r.table);
  if (r.saveError) {
    opts.log?.(
      `warning: attention tuning not cached (${r.path ?? "no cache dir"}): ${r.saveError}`,
    );
  }
  return r;
}

/** The cached attention table of `gpu`'s adapter without tuning or registering anything. */
export async function readCachedAttentionTuning(
  gpu: Gpu,
  cacheDir?: string,
): Promise<{ table: AttentionTuning | null; path: string | null }> {
  const path = await tuningCachePath(identity(gpu), cacheDir);
  if (!path) return { table: null, path };
  const t = parseAttentionTuning(await readJsonFile(path));
  return { table: t && attentionTuningApplies(t, gpu, ATTENTION_KERNELS_ID) ? t : null, path };
}
