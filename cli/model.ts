/**
 * Model loading shared by `bd3 sample`, `bd3 eval`, `bd3 tune-schedule` and `bd3 demo`: the
 * `--model` argument (a model directory or a training run, falling back to the bundled model),
 * the recorded tokenizer, and the weights on the GPU as a ready `Dit`.
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Gpu } from "@blockdiff/core";
import {
  loadModelDir,
  type ModelDir,
  modelTokenizerName,
  resolveModelRef,
} from "@blockdiff/model/deno";
import { loadTokenizer, type Tokenizer } from "@blockdiff/data";
import { Dit, ParamSet } from "@blockdiff/model";
import { checkLoadedWeights, type LoadCheck, loadCheckWarning } from "@blockdiff/eval";
import { UsageError } from "./args.ts";

/** The model directory shipped with the repository (used when `--model` is not given). */
export const BUNDLED_MODEL: string = new URL("../models/bundled", import.meta.url).protocol ===
    "file:"
  ? fileURLToPath(new URL("../models/bundled", import.meta.url))
  : join("models", "bundled");

/** True if `path/config.json` exists. */
export async function isModelDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(join(path, "config.json"))).isFile;
  } catch {
    return false;
  }
}

/** The `--model` value, or the bundled model, or a usage error saying what to pass. */
export async function modelArg(value: unknown, command: string): Promise<string> {
  if (typeof value === "string" && value) return value;
  if (await isModelDir(BUNDLED_MODEL)) return BUNDLED_MODEL;
  throw new UsageError(
    `bd3 ${command}: give --model <dir> (a model directory, a 'bd3 train' run directory or a Hub id org/name); ` +
      `there is no bundled model at ${BUNDLED_MODEL}`,
  );
}

/** A model directory read into host memory with its tokenizer (nothing on the GPU yet). */
export interface HostModel {
  dir: ModelDir;
  tokenizer: Tokenizer;
}

/** A model on the GPU with its tokenizer. Dispose it to free the weights. */
export interface LoadedModel extends HostModel, Disposable {
  model: Dit;
}

/**
 * Loads the tokenizer a model directory records. A relative `tokenizer.json` path is taken
 * relative to the model directory first, so a copied directory keeps working.
 */
export async function modelTokenizer(dir: ModelDir): Promise<Tokenizer> {
  const local = modelTokenizerName(dir);
  if (local !== dir.meta.tokenizer) {
    try {
      await Deno.stat(local);
      return await loadTokenizer(local);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  return await loadTokenizer(dir.meta.tokenizer);
}

/**
 * Reads a model directory (or a run's `model/`, which holds the EMA weights, or a Hub id
 * `org/name[@revision]`) and its tokenizer. Commands validate their flags against the config before acquiring the GPU.
 */
export async function readModel(path: string): Promise<HostModel> {
  // `org/name[@revision]` that is not a local path comes from the Hugging Face Hub (cached).
  const dir = await loadModelDir(await resolveModelRef(path));
  const tokenizer = await modelTokenizer(dir);
  if (tokenizer.vocabSize !== dir.config.vocab) {
    throw new UsageError(
      `${dir.dir}: tokenizer ${dir.meta.tokenizer} has ${tokenizer.vocabSize} ids but the model's ` +
        `vocabulary is ${dir.config.vocab}`,
    );
  }
  return { dir, tokenizer };
}

/** Uploads a read model's weights to `gpu`. */
export function toGpu(gpu: Gpu, host: HostModel): LoadedModel {
  const params = ParamSet.fromHost(gpu, host.dir.config, host.dir.tensors, host.dir.dir);
  const model = new Dit(gpu, params);
  return {
    ...host,
    model,
    [Symbol.dispose]() {
      model[Symbol.dispose]();
      params[Symbol.dispose]();
    },
  };
}

/**
 * Scores a short built-in text with the loaded weights and prints a warning on stderr when
 * the loss is implausible for the vocabulary (weights that loaded wrongly), then returns the
 * check. One short forward pass.
 */
export async function checkWeights(m: LoadedModel): Promise<LoadCheck> {
  const check = await checkLoadedWeights(m.model, m.tokenizer);
  if (!check.plausible) console.error(loadCheckWarning(m.dir.dir, check));
  return check;
}

/** `1234` → `1.2k`. */
export function fmtRate(v: number): string {
  if (!Number.isFinite(v)) return "?";
  return v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v >= 10 ? v.toFixed(0) : v.toFixed(1);
}
