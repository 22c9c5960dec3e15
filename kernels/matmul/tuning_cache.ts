/**
 * Deno side of matmul tuning: `loadOrTuneMatmul` reads this adapter's tuning table from the
 * user's cache (tuning it once when missing or stale) and registers it for the GPU. The file
 * handling is core's (`loadOrTune` of `@blockdiff/core/deno`); this module only adds what is
 * matmul's, and is reached through `@blockdiff/kernels/deno`, so `@blockdiff/kernels` itself
 * stays web-standard.
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
import { MATMUL_KERNELS_ID } from "./matmul.ts";
import {
  matmulAdapterIdentity,
  type MatmulTuning,
  matmulTuningApplies,
  parseMatmulTuning,
  setMatmulTuning,
  tuneMatmul,
  type TuneMatmulOptions,
} from "./tuning.ts";

/** Options of `loadOrTuneMatmul`. */
export interface LoadOrTuneMatmulOptions {
  /** Directory of the tuning file; default `$BLOCKDIFF_CACHE_DIR`, then the user's cache. */
  cacheDir?: string;
  /** Retune even when a valid file exists; default: `BLOCKDIFF_TUNE=force`. */
  retune?: boolean;
  /** Use the fixed rules only (nothing read, tuned or written); default: `BLOCKDIFF_TUNE=0`. */
  disabled?: boolean;
  /** Options of the tuning run (products timed, rounds). */
  tune?: TuneMatmulOptions;
  /** Receives a progress line before tuning starts and a warning if saving fails. */
  log?: (line: string) => void;
}

/**
 * Gives `gpu` its matmul tuning table: the cached one for this adapter when the file holds a
 * valid table for these kernels, else a fresh `tuneMatmul` run (a few seconds on a CPU
 * driver), saved atomically to `tuning-<adapter hash>.json` in the cache directory. The table
 * is registered with `setMatmulTuning`; with tuning disabled any registered table is removed,
 * so the fixed rules decide. A corrupt, old or foreign file is retuned and overwritten; a
 * file that cannot be written only costs the cache (`saveError`). Call it once after
 * acquiring the GPU, before recording work.
 */
export async function loadOrTuneMatmul(
  gpu: Gpu,
  opts: LoadOrTuneMatmulOptions = {},
): Promise<LoadedTuning<MatmulTuning>> {
  const r = await loadOrTune<MatmulTuning>({
    identity: matmulAdapterIdentity(gpu),
    parse: (json) => {
      const t = parseMatmulTuning(json);
      return t && matmulTuningApplies(t, gpu, MATMUL_KERNELS_ID) ? t : null;
    },
    tune: () => tuneMatmul(gpu, opts.tune),
    cacheDir: opts.cacheDir,
    mode: tuneModeFor(opts),
    onTune: (path) =>
      opts.log?.(
        `tuning matmul kernels for ${gpu.info.name} (once per adapter${
          path ? `; cached in ${path}` : ""
        })…`,
      ),
  });
  setMatmulTuning(gpu, r.table);
  if (r.saveError) {
    opts.log?.(`warning: matmul tuning not cached (${r.path ?? "no cache dir"}): ${r.saveError}`);
  }
  return r;
}

/**
 * The cached matmul tuning table of `gpu`'s adapter without tuning or registering anything
 * (for `bd3 info`): the table when the file holds a valid one for these kernels, else null,
 * with the file's path (null without a cache directory).
 */
export async function readCachedMatmulTuning(
  gpu: Gpu,
  cacheDir?: string,
): Promise<{ table: MatmulTuning | null; path: string | null }> {
  const path = await tuningCachePath(matmulAdapterIdentity(gpu), cacheDir);
  if (!path) return { table: null, path };
  const t = parseMatmulTuning(await readJsonFile(path));
  return { table: t && matmulTuningApplies(t, gpu, MATMUL_KERNELS_ID) ? t : null, path };
}
