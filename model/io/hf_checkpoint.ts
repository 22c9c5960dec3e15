/**
 * Loading and saving a Hugging Face BD3-LM directory (`config.json` + `model.safetensors`,
 * docs/design.md, "Checkpoint layout"). Every key and shape is checked against the config before
 * any tensor data is read or written; a load returns every tensor or throws. Lightning `.ckpt`
 * files are Python pickles and cannot be read here (convert them with the reference's
 * `push_to_hf.py`).
 * @module
 */
import { join } from "node:path";
import { writeFileAtomic } from "./_atomic.ts";
import { checkKeysAndShapes } from "./_validate.ts";
import { CheckpointError, IoError } from "./errors.ts";
import { fromHfConfig, type HfBd3lmConfig, parseHfConfig, toHfConfig } from "./hf_config.ts";
import {
  expectedStateDict,
  INV_FREQ_KEY,
  inverseFrequencyBuffer,
  SAMPLING_EPS_KEYS,
} from "./hf_params.ts";
import { f32Tensor, type TensorMap } from "./host_tensor.ts";
import { type Algo, type ModelConfig, validateModelConfig } from "./model_config.ts";
import { SafetensorsFile } from "./safetensors_read.ts";
import type { TensorsInput } from "./safetensors_write.ts";
import { writeSafetensors } from "./safetensors_save.ts";

/** File names inside a HF model directory. */
export const HF_CONFIG_FILE = "config.json";
/** Weight file name inside a HF model directory. */
export const HF_WEIGHTS_FILE = "model.safetensors";

/** A loaded HF checkpoint. */
export interface HfCheckpoint {
  /** Our configuration, derived from `config.json`. */
  config: ModelConfig;
  /** The parsed `config.json` (unknown keys kept). */
  hfConfig: HfBd3lmConfig;
  /** Every tensor of the weight file, f32, by HF key. */
  tensors: TensorMap;
  /** The weight file's `__metadata__`, or null. */
  metadata: Record<string, string> | null;
}

async function refusePickle(dir: string): Promise<void> {
  const pickle = (p: string) =>
    new CheckpointError(
      `${p}: is a PyTorch/Lightning pickle, not a model directory; convert a Lightning ` +
        "checkpoint first with `bd3 convert --from x.ckpt --to models/x` (other pickles: save " +
        "them as model.safetensors)",
    );
  if (/\.(ckpt|bin|pt|pth)$/i.test(dir)) throw pickle(dir);
  const info = await Deno.stat(dir).catch(() => null);
  if (!info) throw new IoError(`${dir}: no such directory`);
  if (!info.isDirectory) throw new CheckpointError(`${dir}: not a HF model directory`);
  if (await Deno.stat(join(dir, HF_WEIGHTS_FILE)).catch(() => null)) return;
  for await (const e of Deno.readDir(dir)) {
    if (e.name === "model.safetensors.index.json") {
      throw new CheckpointError(
        `${
          join(dir, e.name)
        }: sharded checkpoints are not supported; save as one ${HF_WEIGHTS_FILE}`,
      );
    }
    if (/\.(ckpt|bin|pt|pth)$/i.test(e.name)) throw pickle(join(dir, e.name));
  }
  throw new IoError(`${join(dir, HF_WEIGHTS_FILE)}: no such file`);
}

/** Reads and parses `<dir>/config.json`. */
export async function readHfConfig(dir: string): Promise<HfBd3lmConfig> {
  const path = join(dir, HF_CONFIG_FILE);
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new IoError(`${path}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  return parseHfConfig(text, path);
}

/**
 * Loads a HF BD3-LM directory. The config is read first; the weight file's header is then
 * checked against the full expected state dict (missing, unexpected and wrong-shape keys are all
 * reported, naming file and key) before any tensor data is read. The optional buffers
 * (`rotary_emb.inv_freq`, `sampling_eps_*`) are returned when present; stored `sampling_eps_*`
 * buffers (the learned interval) replace the config's informational values. `options.algo` overrides
 * the algorithm inferred from the config.
 */
export async function loadHfCheckpoint(
  dir: string,
  options: { algo?: Algo } = {},
): Promise<HfCheckpoint> {
  await refusePickle(dir);
  const hfConfig = await readHfConfig(dir);
  const config = fromHfConfig(hfConfig, { algo: options.algo, name: join(dir, HF_CONFIG_FILE) });
  const path = join(dir, HF_WEIGHTS_FILE);
  using file = await SafetensorsFile.open(path);
  const found = new Map([...file.header.tensors].map(([k, v]) => [k, v.shape]));
  checkKeysAndShapes(path, found, expectedStateDict(config), HF_CONFIG_FILE);
  for (const info of file.header.tensors.values()) {
    if (!["F32", "F16", "BF16"].includes(info.dtype)) {
      throw new CheckpointError(
        `${path}: tensor "${info.key}" has dtype ${info.dtype}, expected a float type`,
      );
    }
  }
  const tensors = await file.load();
  const [lo, hi] = SAMPLING_EPS_KEYS.map((k) => tensors.get(k)?.data[0] as number | undefined);
  // A buffer equal to the config value rounded to f32 keeps the config's exact value.
  if (lo !== undefined && lo !== Math.fround(config.samplingEpsMin)) config.samplingEpsMin = lo;
  if (hi !== undefined && hi !== Math.fround(config.samplingEpsMax)) config.samplingEpsMax = hi;
  validateModelConfig(config, `${path} (sampling_eps buffers)`);
  const metadata = file.metadata ? { ...file.metadata } : null;
  return { config, hfConfig, tensors, metadata };
}

/**
 * Saves `tensors` (HF keys, f32) and the config as a HF BD3-LM directory, creating `dir` when
 * needed. Every parameter of the config must be present with its exact shape and nothing else;
 * `backbone.rotary_emb.inv_freq` is computed when absent and, when `varMin`, the 0-d
 * `sampling_eps_min/max` buffers default to the config's interval. The weights are written first
 * and `config.json` last, each atomically.
 */
export async function saveHfCheckpoint(
  dir: string,
  config: ModelConfig,
  tensors: TensorsInput,
  options: { floatDtype?: "F32" | "F16" | "BF16" } = {},
): Promise<void> {
  const hf = toHfConfig(config);
  const path = join(dir, HF_WEIGHTS_FILE);
  const all: TensorMap = new Map(
    tensors instanceof Map ? tensors : Object.entries(tensors as Record<string, never>),
  );
  for (const [k, t] of all) {
    if (t.dtype !== "f32") {
      throw new CheckpointError(`${path}: tensor "${k}" is ${t.dtype}, expected f32`);
    }
  }
  const found = new Map([...all].map(([k, t]) => [k, t.shape]));
  checkKeysAndShapes(path, found, expectedStateDict(config), "the model config");
  if (!all.has(INV_FREQ_KEY)) {
    all.set(INV_FREQ_KEY, {
      dtype: "f32",
      shape: [config.hidden / config.heads / 2],
      data: inverseFrequencyBuffer(config),
    });
  }
  if (config.varMin) {
    const [lo, hi] = SAMPLING_EPS_KEYS;
    if (!all.has(lo)) all.set(lo, f32Tensor([], [config.samplingEpsMin]));
    if (!all.has(hi)) all.set(hi, f32Tensor([], [config.samplingEpsMax]));
  }
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new IoError(`${dir}: cannot create directory: ${(e as Error).message}`, { cause: e });
  }
  await writeSafetensors(path, all, { floatDtype: options.floatDtype });
  const text = JSON.stringify(hf, null, 2) + "\n";
  await writeFileAtomic(join(dir, HF_CONFIG_FILE), new TextEncoder().encode(text));
}
