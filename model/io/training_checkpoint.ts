/**
 * Our training checkpoints. One checkpoint is one safetensors file `ckpt-<step>.safetensors`
 * (step zero-padded to 12 digits) in a checkpoint directory, holding four tensor groups under
 * key prefixes — `weights/`, `adam_m/`, `adam_v/` and, when kept, `ema/`, each followed by the HF
 * key — and, in `__metadata__["blockdiff.state"]`, a JSON document with the step, the model
 * config, the RNG state, the data position, free-form `extra` JSON and a CRC-32 of every tensor.
 *
 * Crash safety: each file is written to a temporary name in the same directory, fsynced and
 * renamed; then the text file `latest` (the checkpoint's file name) is replaced the same way.
 * `latest` therefore only ever names a complete file, and a process killed at any moment leaves
 * the previous checkpoint loadable. If `latest` is missing, the newest complete checkpoint file
 * is used. Leftover temporary files of killed writers are removed by the next save. One writer per
 * directory at a time.
 * @module
 */
import { basename, join } from "node:path";
import { crc32 } from "./_crc32.ts";
import { type AtomicWriteOptions, TEMP_MARK, writeFileAtomic } from "./_atomic.ts";
import { isJsonObject, type JsonValue, parseBoundedJson } from "./_json.ts";
import { checkKeysAndShapes, type Expected } from "./_validate.ts";
import { CheckpointError, IoError } from "./errors.ts";
import { expectedParameters, expectedStateDict } from "./hf_params.ts";
import type { HostTensor, TensorMap } from "./host_tensor.ts";
import { type ModelConfig, validateModelConfig } from "./model_config.ts";
import { SafetensorsFile } from "./safetensors_read.ts";
import { writeSafetensors } from "./safetensors_save.ts";

/** Everything needed to resume training. Tensor maps use HF keys (see `hf_params.ts`). */
export interface TrainingState {
  /** Optimizer steps taken. */
  step: number;
  /** Model configuration; decides the expected keys and shapes. */
  config: ModelConfig;
  /** Parameters (every key of `expectedParameters`), plus optional state-dict buffers. */
  weights: TensorMap;
  /** AdamW first moments, one per parameter. */
  adamM: TensorMap;
  /** AdamW second moments, one per parameter. */
  adamV: TensorMap;
  /** EMA of the parameters, or null when no EMA is kept. */
  ema: TensorMap | null;
  /** RNG state (any JSON, e.g. the seed and draw count of each generator). */
  rng: JsonValue;
  /** Position in the training data (any JSON, e.g. epoch, shard, offset). */
  dataPosition: JsonValue;
  /** Anything else to resume with (optimizer hyper-parameters, LR schedule, metrics). */
  extra?: JsonValue;
}

/** Options of {@linkcode saveTrainingCheckpoint}. */
export interface SaveCheckpointOptions extends AtomicWriteOptions {
  /** Keep only this many newest checkpoint files (default: keep all). */
  keep?: number;
}

/** Name of the pointer file. */
export const LATEST_FILE = "latest";
/** Format tag stored in `__metadata__["format"]`. */
export const TRAINING_FORMAT = "blockdiff-train";
/** Version of the state document. */
export const TRAINING_VERSION = 1;

const STATE_KEY = "blockdiff.state";
const GROUPS = ["weights", "adam_m", "adam_v", "ema"] as const;
type Group = typeof GROUPS[number];
const NAME_RE = /^ckpt-(\d{12})\.safetensors$/;

/** File name of the checkpoint of `step`. */
export function checkpointFileName(step: number): string {
  return `ckpt-${String(step).padStart(12, "0")}.safetensors`;
}

function bytesOf(t: HostTensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function groupsOf(s: TrainingState): [Group, TensorMap][] {
  const out: [Group, TensorMap][] = [["weights", s.weights], ["adam_m", s.adamM], [
    "adam_v",
    s.adamV,
  ]];
  if (s.ema) out.push(["ema", s.ema]);
  return out;
}

function expectedFor(c: ModelConfig, group: Group): Expected[] {
  return group === "weights" ? expectedStateDict(c) : expectedParameters(c);
}

function checkState(where: string, s: TrainingState): void {
  if (!Number.isSafeInteger(s.step) || s.step < 0 || s.step >= 1e12) {
    throw new CheckpointError(`${where}: step must be an integer in [0, 1e12), got ${s.step}`);
  }
  validateModelConfig(s.config, `${where}: config`);
  for (const [group, map] of groupsOf(s)) {
    if (!(map instanceof Map)) throw new CheckpointError(`${where}: ${group} must be a Map`);
    const found = new Map([...map].map(([k, t]) => [k, t.shape]));
    checkKeysAndShapes(`${where} (${group})`, found, expectedFor(s.config, group), "the config");
    for (const [k, t] of map) {
      if (t.dtype !== "f32") {
        throw new CheckpointError(`${where}: ${group} tensor "${k}" is ${t.dtype}, expected f32`);
      }
    }
  }
}

function jsonOrThrow(where: string, name: string, v: unknown): JsonValue {
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch (e) {
    throw new CheckpointError(
      `${where}: ${name} is not JSON-serialisable: ${(e as Error).message}`,
    );
  }
  if (text === undefined) throw new CheckpointError(`${where}: ${name} is not JSON-serialisable`);
  return JSON.parse(text) as JsonValue;
}

/**
 * Validates `state` and writes it as `<dir>/ckpt-<step>.safetensors`, then points `latest` at it
 * (both atomically). Returns the checkpoint's path. Throws {@linkcode CheckpointError} for a state
 * that does not match its config, {@linkcode IoError} for a failed write (disk full): the
 * previous checkpoint and `latest` are then unchanged.
 */
export async function saveTrainingCheckpoint(
  dir: string,
  state: TrainingState,
  options: SaveCheckpointOptions = {},
): Promise<string> {
  const path = join(dir, checkpointFileName(state.step));
  checkState(path, state);
  const tensors: TensorMap = new Map();
  const crcs: Record<string, number> = {};
  for (const [group, map] of groupsOf(state)) {
    for (const [k, t] of map) {
      const key = `${group}/${k}`;
      tensors.set(key, t);
      crcs[key] = crc32(bytesOf(t));
    }
  }
  const doc = {
    version: TRAINING_VERSION,
    step: state.step,
    config: jsonOrThrow(path, "config", state.config),
    rng: jsonOrThrow(path, "rng", state.rng),
    dataPosition: jsonOrThrow(path, "dataPosition", state.dataPosition),
    extra: jsonOrThrow(path, "extra", state.extra ?? null),
    ema: state.ema !== null,
    crc32: crcs,
  };
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new IoError(`${dir}: cannot create directory: ${(e as Error).message}`, { cause: e });
  }
  await removeStaleTemps(dir);
  await writeSafetensors(path, tensors, {
    metadata: { format: TRAINING_FORMAT, [STATE_KEY]: JSON.stringify(doc) },
    openTemp: options.openTemp,
  });
  const pointer = new TextEncoder().encode(basename(path) + "\n");
  await writeFileAtomic(join(dir, LATEST_FILE), pointer, { openTemp: options.openTemp });
  if (options.keep !== undefined) await prune(dir, options.keep, basename(path));
  return path;
}

async function removeStaleTemps(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    const stale = e.isFile && e.name.includes(TEMP_MARK) &&
      (e.name.startsWith(".ckpt-") || e.name.startsWith(`.${LATEST_FILE}`));
    if (stale) await Deno.remove(join(dir, e.name)).catch(() => {});
  }
}

async function prune(dir: string, keep: number, current: string): Promise<void> {
  if (!Number.isSafeInteger(keep) || keep < 1) {
    throw new CheckpointError(`keep must be a positive integer, got ${keep}`);
  }
  const all = await listCheckpoints(dir);
  for (const c of all.slice(0, Math.max(0, all.length - keep))) {
    if (basename(c.path) !== current) await Deno.remove(c.path).catch(() => {});
  }
}

/** Checkpoint files of `dir`, oldest step first (temporary files excluded). */
export async function listCheckpoints(dir: string): Promise<{ step: number; path: string }[]> {
  const out: { step: number; path: string }[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const m = NAME_RE.exec(e.name);
      if (m && e.isFile) out.push({ step: Number(m[1]), path: join(dir, e.name) });
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new IoError(`${dir}: cannot list: ${(e as Error).message}`, { cause: e });
  }
  return out.sort((a, b) => a.step - b.step);
}

/**
 * Path of the checkpoint to resume from: the one `latest` names, else the newest checkpoint
 * file, else null (no checkpoint yet).
 */
export async function latestCheckpointPath(dir: string): Promise<string | null> {
  const pointerPath = join(dir, LATEST_FILE);
  let text: string | null = null;
  try {
    text = await Deno.readTextFile(pointerPath);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new IoError(`${pointerPath}: cannot read: ${(e as Error).message}`, { cause: e });
    }
  }
  if (text !== null) {
    const name = text.trim();
    if (!NAME_RE.test(name)) {
      throw new CheckpointError(
        `${pointerPath}: does not name a checkpoint file: ${JSON.stringify(name)}`,
      );
    }
    return join(dir, name);
  }
  const all = await listCheckpoints(dir);
  return all.length ? all[all.length - 1].path : null;
}

/** Loads the checkpoint {@linkcode latestCheckpointPath} names, or returns null when none. */
export async function loadLatestCheckpoint(dir: string): Promise<TrainingState | null> {
  const path = await latestCheckpointPath(dir);
  return path === null ? null : await loadTrainingCheckpoint(path);
}

/**
 * Loads one training checkpoint file with full validation: the safetensors container (a truncated
 * file fails before any data is read), the state document, every key and shape against the
 * stored config, and the CRC-32 of every tensor. Errors name the file (and key).
 */
export async function loadTrainingCheckpoint(path: string): Promise<TrainingState> {
  using file = await SafetensorsFile.open(path);
  const meta = file.metadata;
  if (meta?.format !== TRAINING_FORMAT || typeof meta[STATE_KEY] !== "string") {
    throw new CheckpointError(
      `${path}: not a blockdiff training checkpoint (format is ${meta?.format})`,
    );
  }
  let doc: JsonValue;
  try {
    doc = parseBoundedJson(meta[STATE_KEY], { maxLength: 100_000_000, maxDepth: 64 });
  } catch (e) {
    throw new CheckpointError(`${path}: state document ${(e as Error).message}`);
  }
  if (!isJsonObject(doc) || doc.version !== TRAINING_VERSION) {
    throw new CheckpointError(`${path}: state document version is not ${TRAINING_VERSION}`);
  }
  if (!isJsonObject(doc.config) || !isJsonObject(doc.crc32) || typeof doc.ema !== "boolean") {
    throw new CheckpointError(`${path}: state document lacks config, crc32 or ema`);
  }
  const config = validateModelConfig(
    { ...doc.config } as unknown as ModelConfig,
    `${path}: config`,
  );
  const step = doc.step as number;
  if (!Number.isSafeInteger(step) || step < 0) {
    throw new CheckpointError(`${path}: step ${JSON.stringify(doc.step)} is not a valid step`);
  }
  // Keys and shapes of every group, before any tensor data is read.
  const groups = new Map<Group, Map<string, readonly number[]>>();
  for (const g of GROUPS) if (g !== "ema" || doc.ema) groups.set(g, new Map());
  for (const [key, info] of file.header.tensors) {
    const slash = key.indexOf("/");
    const g = groups.get(key.slice(0, slash) as Group);
    if (slash < 0 || !g) throw new CheckpointError(`${path}: unexpected tensor "${key}"`);
    if (info.dtype !== "F32") {
      throw new CheckpointError(`${path}: tensor "${key}" is ${info.dtype}, expected F32`);
    }
    g.set(key.slice(slash + 1), info.shape);
  }
  for (const [g, found] of groups) {
    checkKeysAndShapes(`${path} (${g})`, found, expectedFor(config, g), "the stored config");
  }
  const maps = new Map<Group, TensorMap>([...groups.keys()].map((g) => [g, new Map()]));
  for (const key of file.keys()) {
    const t = await file.get(key);
    const want = doc.crc32[key];
    if (typeof want !== "number" || crc32(bytesOf(t)) !== want) {
      throw new CheckpointError(`${path}: tensor "${key}" fails its CRC-32 check (corrupted file)`);
    }
    const slash = key.indexOf("/");
    maps.get(key.slice(0, slash) as Group)!.set(key.slice(slash + 1), t);
  }
  return {
    step,
    config,
    weights: maps.get("weights")!,
    adamM: maps.get("adam_m")!,
    adamV: maps.get("adam_v")!,
    ema: maps.get("ema") ?? null,
    rng: doc.rng ?? null,
    dataPosition: doc.dataPosition ?? null,
    extra: doc.extra ?? null,
  };
}
