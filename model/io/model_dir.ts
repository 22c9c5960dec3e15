/**
 * Model directories: the Hugging Face BD3-LM layout (`config.json` + `model.safetensors`) plus
 * `blockdiff.json` naming the tokenizer and the run it came from. Every front end loads models
 * through here, from a model directory or from a training run directory (`<run>/model`).
 * @module
 */
import { isAbsolute, join, resolve } from "node:path";
import { loadHfCheckpoint, saveHfCheckpoint } from "./hf_checkpoint.ts";
import type { ModelConfig } from "./model_config.ts";
import type { TensorMap } from "./host_tensor.ts";
import { writeFileAtomic } from "./_atomic.ts";
import { ConfigError, IoError } from "./errors.ts";
import { gunzipSync, gzipSync } from "fflate";

/** What blockdiff records beside the HF files. */
export interface ModelMeta {
  /** Tokenizer name or tokenizer.json path (see `loadTokenizer`). */
  tokenizer: string;
  /** Mask token id. */
  maskId: number;
  /** Free-form provenance: data, steps, seed, metrics. */
  [key: string]: unknown;
}

/** A loaded model directory. */
export interface ModelDir {
  /** The directory it was loaded from. */
  dir: string;
  /** The model configuration (`config.json`). */
  config: ModelConfig;
  /** The weights, by Hugging Face key. */
  tensors: TensorMap;
  /** blockdiff's metadata about the model. */
  meta: ModelMeta;
}

/** The file with blockdiff's metadata. */
export const META_FILE = "blockdiff.json";

/** The name a model directory gives its own copy of a tokenizer.json. */
export const TOKENIZER_FILE = "tokenizer.json";

/**
 * What to pass to `loadTokenizer` for a model directory: its built-in tokenizer's name, or its
 * `tokenizer.json` path resolved against the directory (as `saveModelDir` records it).
 */
export function modelTokenizerName(m: Pick<ModelDir, "dir" | "meta">): string {
  const name = m.meta.tokenizer;
  return name.endsWith(".json") && !isAbsolute(name) ? join(m.dir, name) : name;
}

/** Options of {@link saveModelDir}. */
export interface SaveModelDirOptions {
  /** Dtype of floating-point tensors on disk. Default F32. */
  floatDtype?: "F32" | "F16" | "BF16";
  /** Write `model.safetensors.gz` instead of `model.safetensors`. */
  compress?: boolean;
  /** Directory a relative `meta.tokenizer` path is read from. Default: the working directory. */
  tokenizerBase?: string;
}

/**
 * Writes a model directory (atomic per file). A tokenizer named by a `tokenizer.json` path is
 * copied in as {@link TOKENIZER_FILE} and recorded by that name, so the directory can be moved,
 * shipped or uploaded without the file it was trained with.
 */
export async function saveModelDir(
  dir: string,
  config: ModelConfig,
  tensors: TensorMap,
  meta: ModelMeta,
  options: SaveModelDirOptions = {},
): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new IoError(`${dir}: cannot create directory: ${(e as Error).message}`, { cause: e });
  }
  if (meta.tokenizer.endsWith(".json")) {
    const from = isAbsolute(meta.tokenizer) || !options.tokenizerBase
      ? meta.tokenizer
      : join(options.tokenizerBase, meta.tokenizer);
    const to = join(dir, TOKENIZER_FILE);
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(from);
    } catch (e) {
      throw new IoError(`${from}: cannot read the model's tokenizer: ${(e as Error).message}`, {
        cause: e,
      });
    }
    if (resolve(from) !== resolve(to)) await writeFileAtomic(to, bytes);
    meta = { ...meta, tokenizer: TOKENIZER_FILE };
  }
  await saveHfCheckpoint(dir, config, tensors, options);
  if (options.compress) {
    // A compact copy for shipping in a package: model.safetensors.gz replaces the plain file.
    const plain = join(dir, "model.safetensors");
    await writeFileAtomic(`${plain}.gz`, gzipSync(await Deno.readFile(plain), { level: 9 }));
    await Deno.remove(plain);
  } else {
    await Deno.remove(join(dir, "model.safetensors.gz")).catch(() => {});
  }
  await writeFileAtomic(
    join(dir, META_FILE),
    new TextEncoder().encode(JSON.stringify(meta, null, 2) + "\n"),
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Resolves a model argument: a model directory, or a run directory holding `model/`. */
export async function resolveModelDir(path: string): Promise<string> {
  if (await exists(join(path, "config.json"))) return path;
  if (!(await exists(path))) {
    throw new ConfigError(`${path}: no such model directory`);
  }
  if (await exists(join(path, "model", "config.json"))) return join(path, "model");
  throw new ConfigError(
    `${path}: not a model directory (no config.json) nor a training run with a model/ inside. ` +
      "Train one with 'bd3 train', or import a Hugging Face checkpoint with 'bd3 convert'.",
  );
}

/** Loads a model directory (or a run's model). Without `blockdiff.json`, GPT-2 is assumed. */
export async function loadModelDir(path: string): Promise<ModelDir> {
  const dir = await resolveModelDir(path);
  let meta: ModelMeta | null = null;
  if (await exists(join(dir, META_FILE))) {
    try {
      meta = JSON.parse(await Deno.readTextFile(join(dir, META_FILE)));
    } catch (e) {
      throw new ConfigError(`${join(dir, META_FILE)}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof meta?.tokenizer !== "string" || typeof meta?.maskId !== "number") {
      throw new ConfigError(
        `${join(dir, META_FILE)}: needs "tokenizer" (string) and "maskId" (number)`,
      );
    }
  }
  const options = meta?.algo ? { algo: meta.algo as ModelConfig["algo"] } : {};
  const gz = join(dir, "model.safetensors.gz");
  let ckpt;
  if (!(await exists(join(dir, "model.safetensors"))) && (await exists(gz))) {
    // Unpack next to a copy of the config and load through the same validation.
    const tmp = await Deno.makeTempDir({ prefix: "blockdiff-model-" });
    try {
      let bytes: Uint8Array;
      try {
        bytes = gunzipSync(await Deno.readFile(gz));
      } catch (e) {
        throw new IoError(`${gz}: not a valid gzip file (${(e as Error).message})`);
      }
      await Deno.writeFile(join(tmp, "model.safetensors"), bytes);
      await Deno.copyFile(join(dir, "config.json"), join(tmp, "config.json"));
      ckpt = await loadHfCheckpoint(tmp, options);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  } else {
    ckpt = await loadHfCheckpoint(dir, options);
  }
  // The released checkpoints use GPT-2 with the mask token appended at 50257.
  meta ??= { tokenizer: "gpt2", maskId: ckpt.config.vocab - 1 };
  return { dir, config: ckpt.config, tensors: ckpt.tensors, meta };
}
