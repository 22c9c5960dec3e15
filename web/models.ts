/**
 * The models a server offers: found in its configured model directory (each child a model
 * directory or a training run with `model/` inside) or given as an explicit list. Request names
 * are only ever looked up among the names found here, never joined onto a path, so `../x` or
 * `/etc` cannot reach outside the directory; symbolic links leading outside it are skipped.
 * @module
 */
import { basename, isAbsolute, join, resolve, sep } from "node:path";
import type { Gpu } from "@blockdiff/core";
import { fromHfConfig, type ModelConfig } from "@blockdiff/model/io";
import {
  loadModelDir,
  META_FILE,
  modelTokenizerName,
  readHfConfig,
  resolveModelDir,
  TOKENIZER_FILE,
} from "@blockdiff/model/deno";
import { Dit, halfWeightsPay, ParamSet } from "@blockdiff/model";
import { loadTokenizer, type Tokenizer } from "@blockdiff/data";
import { checkLoadedWeights, loadCheckWarning } from "@blockdiff/eval";

/**
 * A model directory listed for the server, with the name requests use (default: the directory's
 * own name; a Hub snapshot's directory is named by its commit, so Hub models pass `org--name`).
 */
export interface ModelSource {
  /** Name in GET /api/models and in requests (sanitised to {@link MODEL_NAME}). */
  name?: string;
  /** The model directory (or a run holding `model/`). */
  dir: string;
}

/** Names a model may have: no separators, no leading dot. */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Tokenizers the in-browser mode can build (no file system, no Deno APIs). */
export const BROWSER_TOKENIZERS: readonly string[] = ["bytes", "byte", "gpt2"];

/** True when the page can build this tokenizer: built in, or a model's own tokenizer.json. */
function browserTokenizer(tokenizer: string): boolean {
  return BROWSER_TOKENIZERS.includes(tokenizer) || tokenizer === TOKENIZER_FILE;
}

/** A model as GET /api/models lists it. */
export interface ModelInfo {
  /** The model's directory name, as requests name it. */
  name: string;
  /** Training algorithm (from the model's config). */
  algo: ModelConfig["algo"];
  /** The model's full configuration. */
  config: ModelConfig;
  /** Tokenizer name the model was trained with. */
  tokenizer: string;
  /** Token id of the mask token. */
  maskId: number;
  /** Size of `model.safetensors` (what GET /api/models/:name/weights sends). */
  weightsBytes: number;
  /** Changes whenever the weights file does (the browser's cache key). */
  version: string;
  /** Whether the page can run it in the browser. */
  browser: boolean;
}

/** A model loaded onto the GPU. */
export interface LoadedModel {
  /** What GET /api/models lists for it. */
  info: ModelInfo;
  /** The network, with its weights on the GPU. */
  dit: Dit;
  /** The tokenizer named by `info.tokenizer`. */
  tokenizer: Tokenizer;
}

interface Found {
  dir: string;
  info: ModelInfo;
}

async function describe(name: string, dir: string): Promise<ModelInfo> {
  const hf = await readHfConfig(dir);
  let meta: { tokenizer?: unknown; maskId?: unknown; algo?: unknown } = {};
  try {
    meta = JSON.parse(await Deno.readTextFile(join(dir, META_FILE)));
  } catch {
    // Without blockdiff.json the released layout (GPT-2, mask appended) is assumed, as loadModelDir does.
  }
  const config = fromHfConfig(hf, {
    algo: typeof meta.algo === "string" ? meta.algo as ModelConfig["algo"] : undefined,
  });
  const tokenizer = typeof meta.tokenizer === "string" ? meta.tokenizer : "gpt2";
  const st = await Deno.stat(join(dir, weightsFile(dir)));
  return {
    name,
    algo: config.algo,
    config,
    tokenizer,
    maskId: typeof meta.maskId === "number" ? meta.maskId : config.vocab - 1,
    weightsBytes: st.size,
    version: `${st.size}-${st.mtime?.getTime() ?? 0}`,
    browser: browserTokenizer(tokenizer),
  };
}

/**
 * The weights file of a model directory: `model.safetensors`, or the fflate-compressed
 * `model.safetensors.gz` of a packaged model (sent as is; the browser unpacks it).
 */
function weightsFile(dir: string): string {
  try {
    Deno.statSync(join(dir, "model.safetensors"));
    return "model.safetensors";
  } catch {
    return "model.safetensors.gz";
  }
}

/** The server's models, scanned on first use and on `refresh()`, loaded onto the GPU lazily. */
export class ModelRegistry implements Disposable {
  readonly #source: string | readonly ModelSource[];
  readonly #maxLoaded: number;
  #root: string | null = null;
  #scan: Promise<void> | null = null;
  #found = new Map<string, Found>();
  readonly #loaded = new Map<string, LoadedModel>();

  /** Models in the directory `source` (each child one model or run), or the listed directories. */
  constructor(source: string | readonly (string | ModelSource)[], maxLoaded = 2) {
    this.#source = typeof source === "string"
      ? source
      : source.map((d) =>
        typeof d === "string" ? { dir: resolve(d) } : { name: d.name, dir: resolve(d.dir) }
      );
    this.#maxLoaded = maxLoaded;
  }

  /** Waits for the first scan. */
  ready(): Promise<void> {
    return this.#scan ??= this.refresh();
  }

  /** Rescans the directory (or list); models that stopped loading drop out of the list. */
  refresh(): Promise<void> {
    const scan = this.#rescan();
    this.#scan = scan;
    return scan;
  }

  async #rescan(): Promise<void> {
    const candidates: [string, string][] = [];
    if (typeof this.#source === "string") {
      const root = this.#root ??= await Deno.realPath(this.#source);
      for await (const e of Deno.readDir(root)) {
        if (!MODEL_NAME.test(e.name) || !(e.isDirectory || e.isSymlink)) continue;
        // A link may point anywhere; only a target inside the model directory counts.
        const real = await Deno.realPath(join(root, e.name)).catch(() => null);
        if (real === null || !real.startsWith(root + sep)) continue;
        candidates.push([e.name, real]);
      }
    } else {
      for (const { name: given, dir: d } of this.#source) {
        let name = (given ?? basename(d)).replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[._-]+/, "") ||
          "model";
        if (name === "model" && given === undefined) name = basename(resolve(d, "..")) || name;
        while (candidates.some(([n]) => n === name)) name += "_";
        candidates.push([name, d]);
      }
    }
    const found = new Map<string, Found>();
    for (const [name, path] of candidates.sort(([a], [b]) => a.localeCompare(b))) {
      try {
        const real = await Deno.realPath(await resolveModelDir(path));
        if (this.#root !== null && !real.startsWith(this.#root + sep)) continue;
        found.set(name, { dir: real, info: await describe(name, real) });
      } catch {
        // Not a model (or unreadable): not offered. Training runs without a model yet land here.
      }
    }
    this.#found = found;
  }

  /** Model names, sorted. */
  names(): string[] {
    return [...this.#found.keys()];
  }

  /** Descriptions of every model. */
  list(): ModelInfo[] {
    return [...this.#found.values()].map((f) => f.info);
  }

  /** A listed model's description, or null (also for any name that is not a plain name). */
  info(name: string): ModelInfo | null {
    return MODEL_NAME.test(name) ? this.#found.get(name)?.info ?? null : null;
  }

  /** Path of a listed model's weights file, or null. */
  weightsPath(name: string): string | null {
    const f = MODEL_NAME.test(name) ? this.#found.get(name) : undefined;
    return f ? join(f.dir, weightsFile(f.dir)) : null;
  }

  /** The model's own `tokenizer.json` (what the page fetches), or null when it names a built-in one. */
  tokenizerFile(name: string): string | null {
    const f = MODEL_NAME.test(name) ? this.#found.get(name) : undefined;
    return f?.info.tokenizer === TOKENIZER_FILE ? join(f.dir, TOKENIZER_FILE) : null;
  }

  /**
   * The model on `gpu`, loading it on first use. Call only while holding the generation
   * queue's turn: loading writes GPU buffers, and evicting releases another model's.
   */
  async load(gpu: Gpu, name: string): Promise<LoadedModel> {
    const f = this.#found.get(name);
    if (!f) throw new RangeError(`unknown model ${JSON.stringify(name)}`);
    const hit = this.#loaded.get(name);
    if (hit && hit.info.version === f.info.version) {
      this.#loaded.delete(name);
      this.#loaded.set(name, hit);
      return hit;
    }
    if (hit) this.#unload(name);
    while (this.#loaded.size >= this.#maxLoaded) this.#unload(this.#loaded.keys().next().value!);
    const m = await loadModelDir(f.dir);
    const tokenizer = await loadTokenizer(modelTokenizerName({ dir: f.dir, meta: m.meta }));
    const params = ParamSet.fromHost(gpu, m.config, m.tensors, name);
    const dit = new Dit(gpu, params);
    // Weights that loaded wrongly write garbage with confidence: say so in the server's log.
    const check = await checkLoadedWeights(dit, tokenizer);
    if (!check.plausible) console.error(loadCheckWarning(f.dir, check));
    // Sampling GEMVs read half the bytes from f16 weight copies where that pays (GPUs).
    if (halfWeightsPay(gpu)) await dit.useHalfWeights();
    const loaded = { info: f.info, dit, tokenizer };
    this.#loaded.set(name, loaded);
    return loaded;
  }

  #unload(name: string): void {
    const m = this.#loaded.get(name);
    if (!m) return;
    this.#loaded.delete(name);
    m.dit.dispose();
    m.dit.params.dispose();
  }

  /** Unloads every model (e.g. after the device they live on was lost). */
  unloadAll(): void {
    for (const name of [...this.#loaded.keys()]) this.#unload(name);
  }

  /** Releases every loaded model's GPU buffers. */
  [Symbol.dispose](): void {
    for (const name of [...this.#loaded.keys()]) this.#unload(name);
  }
}
