/**
 * Ownership of a training run directory (`run.json`, `metrics.jsonl`, `checkpoints/`,
 * `model/`): reading the run's own record for `--resume`, refusing to mix a new run into an
 * old one, clearing one for `--overwrite` (only files this project writes, by exact name), and
 * choosing the newest checkpoint that is intact.
 * @module
 */
import { join } from "node:path";
import { BlockdiffError } from "@blockdiff/core";
import { CheckpointError, IoError } from "@blockdiff/model/io";
import {
  LATEST_FILE,
  latestCheckpointPath,
  listCheckpoints,
  loadTrainingCheckpoint,
  type TrainingState,
} from "@blockdiff/model/deno";
import { UsageError } from "./args.ts";

/** What `bd3 train` records in `run.json`. */
export interface RunRecord {
  /** The flags the run was started (or last resumed) with. */
  flags: Record<string, string | number | boolean | undefined>;
  config?: Record<string, unknown>;
  meta?: Record<string, unknown>;
}

/** Largest `run.json` read: it holds a config and a flag table, a few KB. */
const MAX_RECORD_BYTES = 4 << 20;

/** Reads `out/run.json`; a missing or unreadable record is a one-line usage error. */
export async function readRunRecord(out: string): Promise<RunRecord> {
  const path = join(out, "run.json");
  let text: string;
  try {
    const st = await Deno.stat(path);
    if (!st.isFile || st.size > MAX_RECORD_BYTES) {
      throw new UsageError(`bd3 train --resume: ${path} is not a run record (a small JSON file)`);
    }
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (e instanceof Deno.errors.NotFound) {
      throw new UsageError(
        `bd3 train --resume: ${out} holds no run (no run.json); start it without --resume`,
      );
    }
    throw new IoError(`${path}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`bd3 train --resume: ${path} is not valid JSON (${(e as Error).message})`);
  }
  const flags = (doc as { flags?: unknown })?.flags;
  if (typeof flags !== "object" || flags === null || Array.isArray(flags)) {
    throw new UsageError(`bd3 train --resume: ${path} has no "flags" object`);
  }
  return doc as RunRecord;
}

/** Exact names of what a run directory holds that this project wrote. */
const RUN_FILES = ["run.json", "metrics.jsonl"];
const CHECKPOINT_NAME = /^ckpt-\d{12}\.safetensors$/;
const MODEL_FILES = new Set([
  "config.json",
  "model.safetensors",
  "model.safetensors.gz",
  "blockdiff.json",
  "tokenizer.json",
  "metrics.jsonl",
]);

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Creates `out/checkpoints`. Without `resume`, a directory that already holds a run is refused
 * (its checkpoints and metrics would mix with the new run's) unless `overwrite` clears it.
 */
export async function prepareRunDir(
  out: string,
  options: { resume: boolean; overwrite: boolean },
): Promise<void> {
  const ckptDir = join(out, "checkpoints");
  try {
    await Deno.mkdir(ckptDir, { recursive: true });
  } catch (e) {
    throw new IoError(`${ckptDir}: cannot create the run directory: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (!options.resume) {
    const checkpoints = await listCheckpoints(ckptDir);
    const record = await exists(join(out, "run.json"));
    if (checkpoints.length || record) {
      if (!options.overwrite) {
        const what = [
          record ? "run.json" : "",
          checkpoints.length ? `${checkpoints.length} checkpoints` : "",
        ]
          .filter(Boolean).join(", ");
        throw new UsageError(
          `bd3 train: ${out} already holds a run (${what}); pass --resume to continue it, ` +
            `--overwrite to start over, or another --out`,
        );
      }
      await clearRun(out, checkpoints.map((c) => c.path));
    }
  }
}

/** Removes the files a run wrote, by exact name; anything else in the directory stays. */
async function clearRun(out: string, checkpoints: string[]): Promise<void> {
  const remove = async (path: string) => {
    try {
      await Deno.remove(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new IoError(`${path}: cannot remove for --overwrite: ${(e as Error).message}`);
      }
    }
  };
  for (const c of checkpoints) {
    if (CHECKPOINT_NAME.test(c.split("/").pop()!)) await remove(c);
  }
  await remove(join(out, "checkpoints", LATEST_FILE));
  for (const f of RUN_FILES) await remove(join(out, f));
  const modelDir = join(out, "model");
  try {
    for await (const e of Deno.readDir(modelDir)) {
      if (e.isFile && MODEL_FILES.has(e.name)) await remove(join(modelDir, e.name));
    }
    await Deno.remove(modelDir).catch(() => {}); // only when nothing else is left in it
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

/**
 * Loads the newest intact checkpoint of `dir`: the one `latest` names, else the newest file,
 * passing over (and reporting through `onSkip`) any that fail validation. Returns null when
 * the directory has no checkpoint at all; throws when every one is damaged.
 */
export async function loadIntactCheckpoint(
  dir: string,
  onSkip: (path: string, why: string) => void = () => {},
): Promise<TrainingState | null> {
  const candidates: string[] = [];
  try {
    const latest = await latestCheckpointPath(dir);
    if (latest) candidates.push(latest);
  } catch (e) {
    if (!(e instanceof BlockdiffError)) throw e;
    onSkip(join(dir, LATEST_FILE), e.message);
  }
  const all = await listCheckpoints(dir);
  for (const c of all.reverse()) if (!candidates.includes(c.path)) candidates.push(c.path);
  if (!candidates.length) return null;
  for (const path of candidates) {
    try {
      return await loadTrainingCheckpoint(path);
    } catch (e) {
      if (!(e instanceof BlockdiffError)) throw e;
      onSkip(path, e.message);
    }
  }
  throw new CheckpointError(
    `${dir}: none of its ${candidates.length} checkpoints is intact; start over with --overwrite`,
  );
}
