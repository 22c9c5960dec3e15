/**
 * In-browser mode: the model runs on the visitor's WebGPU through the same core modules the
 * server uses (`Gpu`, `ParamSet`, `Dit`, `generate`), with the weights fetched once and cached.
 * @module
 */
import { Dit, halfWeightsPay, ParamSet } from "@blockdiff/model";
import { generate } from "@blockdiff/sampling";
import { ByteTokenizer } from "@blockdiff/data";
import { loadGpt2Tokenizer, tokenizerFromHfJson } from "@blockdiff/data";
import type { Tokenizer } from "@blockdiff/data";
import { checkAgainstModel, parseGenerateRequest } from "../validate.ts";
import { DEFAULT_LIMITS } from "../limits.ts";
import { toGenerateOptions } from "../options.ts";
import { doneMessage, ProgressTracker } from "../progress.ts";
import type { ModelInfo } from "../models.ts";
import { browserGpu } from "./device.ts";
import { decodeFloatTensors, fetchWeights } from "./weights.ts";
import type { RunEvent } from "./events.ts";

interface Loaded {
  key: string;
  dit: Dit;
  tokenizer: Tokenizer;
}

// One model on the visitor's GPU at a time; switching releases the previous one.
let loaded: Loaded | null = null;

async function tokenizerFor(info: ModelInfo, signal: AbortSignal): Promise<Tokenizer> {
  const name = info.tokenizer;
  if (name === "bytes" || name === "byte") return new ByteTokenizer();
  if (name === "gpt2") return await loadGpt2Tokenizer();
  if (name === "tokenizer.json") {
    // The model's own vocabulary (e.g. a BPE trained with `bd3 tokenizer`), from its server.
    const res = await fetch(`/api/models/${encodeURIComponent(info.name)}/tokenizer.json`, {
      signal,
    });
    if (!res.ok) throw new Error(`${info.name}: the server sent no tokenizer (${res.status})`);
    return tokenizerFromHfJson(await res.json(), { file: `${info.name}/tokenizer.json` });
  }
  throw new Error(`tokenizer ${name} is not available in the browser`);
}

async function load(info: ModelInfo, onEvent: (e: RunEvent) => void, signal: AbortSignal) {
  const key = `${info.name}@${info.version}`;
  if (loaded?.key === key) return loaded;
  const gpu = await browserGpu();
  onEvent({ event: "status", data: { text: `loading ${info.name} weights…` } });
  let shown = 0;
  const { bytes, cached } = await fetchWeights(info.name, info.version, signal, (got, total) => {
    // A status line per 2 % (or per MB without a total) is enough to see it move.
    const step = total ? total / 50 : 1e6;
    if (got - shown < step && got !== total) return;
    shown = got;
    const mb = (n: number) => (n / 1e6).toFixed(1);
    onEvent({
      event: "status",
      data: {
        text: total
          ? `loading ${info.name} weights… ${mb(got)} / ${mb(total)} MB (${
            Math.round((100 * got) / total)
          } %)`
          : `loading ${info.name} weights… ${mb(got)} MB`,
      },
    });
  });
  onEvent({
    event: "status",
    data: {
      text: `${info.name}: ${(bytes.length / 1e6).toFixed(2)} MB ${
        cached ? "from cache" : "downloaded"
      }`,
    },
  });
  const params = ParamSet.fromHost(
    gpu,
    info.config,
    decodeFloatTensors(bytes, info.name),
    info.name,
  );
  if (loaded) {
    loaded.dit.dispose();
    loaded.dit.params.dispose();
  }
  const dit = new Dit(gpu, params);
  // As the server does: the sampling GEMVs read f16 copies of the weights where the GPU has
  // shader-f16 (half the bytes per step); software adapters keep f32.
  if (halfWeightsPay(gpu)) {
    onEvent({ event: "status", data: { text: `${info.name}: f16 weight copies…` } });
    await dit.useHalfWeights();
  }
  loaded = { key, dit, tokenizer: await tokenizerFor(info, signal) };
  return loaded;
}

let busy = false;

/** Runs a generation on this browser's GPU, reporting events like the server's stream. */
export async function runLocal(
  body: Record<string, unknown>,
  info: ModelInfo,
  onEvent: (e: RunEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const parsed = parseGenerateRequest(body, DEFAULT_LIMITS, [info.name]);
  const bad = parsed.ok ? checkAgainstModel(parsed.value, info.config) : parsed.error;
  if (!parsed.ok || bad) {
    onEvent({ event: "error", data: { error: bad!.error } });
    return;
  }
  // Like the server's queue: one generation on this GPU at a time.
  if (busy) {
    onEvent({ event: "error", data: { error: "a local generation is already running" } });
    return;
  }
  busy = true;
  try {
    const req = parsed.value;
    const m = await load(info, onEvent, signal);
    onEvent({ event: "start", data: { model: info.name, algo: info.algo, prompt: req.prompt } });
    const tracker = new ProgressTracker(m.tokenizer, req.prompt);
    const r = await generate(
      m.dit,
      m.tokenizer,
      toGenerateOptions(req, {
        signal,
        onStep: (e) => onEvent({ event: e.kind, data: tracker.update(e) }),
      }),
    );
    onEvent({ event: "done", data: doneMessage(r) });
  } catch (e) {
    onEvent({
      event: "error",
      data: { error: signal.aborted ? "cancelled" : String((e as Error).message ?? e) },
    });
  } finally {
    // A cancelled run may leave recorded work behind; flush it before the next one.
    await browserGpu().then((g) => g.sync()).catch(() => {});
    busy = false;
  }
}
