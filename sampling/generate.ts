/**
 * `generate`: text in, text out. Picks the sampler for the model's algorithm (BD3-LM semi-AR
 * with or without KV cache, MDLM, SEDD analytic, AR), tokenizes the prompts, runs it, decodes,
 * and reports NFE, speed, lengths and stop reasons.
 * @module
 */
import {
  type AdaptiveBlockOptions,
  adaptiveBlockSize,
  analyticSample,
  ancestral,
  arSample,
  type BlockSizePolicy,
  confidenceUnmasking,
  entropyStop,
  type EntropyStopOptions,
  eosStop,
  firstHitting,
  fixedBlockSize,
  type InnerSampler,
  mdlmSample,
  type SampleResult,
  semiArSample,
  type StepEvent,
  type StopRule,
} from "@blockdiff/schedules";
import type { Algo } from "@blockdiff/model";
import type { Tokenizer } from "@blockdiff/data";
import type { Dit } from "@blockdiff/model";
import { KvBlockDenoiser } from "./kv_denoiser.ts";
import { WindowBlockDenoiser } from "./window_denoiser.ts";
import { DitScoreModel, FullSequenceDenoiser } from "./full_denoiser.ts";
import { KvArModel, WindowArModel } from "./ar_models.ts";

/** Inner sampler choice for the masked-diffusion samplers. */
export type InnerKind = "ancestral" | "first-hitting" | "confidence";

/** Options of {@link generate}. */
export interface GenerateOptions {
  /** One prompt for every row, or one per row (they must tokenize to equal lengths). */
  prompt?: string | readonly string[];
  /** Rows (default: the number of prompts, else 1). */
  batch?: number;
  /** Most tokens per row including BOS and prompt (default: the model length). */
  length?: number;
  /** Seed (default 0). */
  seed?: number;
  /** Algorithm (default: the model's). */
  algo?: Algo;
  /** Inner sampler for BD3-LM / MDLM (default first-hitting, the reference's default). */
  sampler?: InnerKind;
  /** Ancestral steps per block (default: the block size), or SEDD grid steps (default 128). */
  steps?: number;
  /** Confidence threshold of the `confidence` sampler (default 0.9). */
  threshold?: number;
  /** BD3-LM block size (default: the model's), or an adaptive policy. */
  blockSize?: number | { adaptive: AdaptiveBlockOptions };
  /** BD3-LM / AR: use the KV cache (default true). */
  kvCache?: boolean;
  /** Context window W (default: the model length). */
  window?: number;
  /** Softmax temperature (default 1). */
  temperature?: number;
  /** Nucleus p (default 1). */
  topP?: number;
  /** Stop at the first generated EOS (default true). */
  stopAtEos?: boolean;
  /** Low-entropy stop over a trailing window (default off). */
  entropyStop?: EntropyStopOptions | false;
  /** `truncate` (variable length, default) or `reject` (fixed length: mark the row). */
  onStop?: "truncate" | "reject";
  /** Check stop rules only beyond this many tokens (default 0; the reference uses 256). */
  minStopLength?: number;
  /** Live progress. */
  onStep?: (e: StepEvent) => void | Promise<void>;
  /** Aborts between network calls. */
  signal?: AbortSignal;
}

/** What {@link generate} produced. */
export interface GenerateResult {
  /** The algorithm that ran. */
  algo: Algo;
  /** Sampler description, e.g. `bd3lm kv first-hitting fixed(4)`. */
  sampler: string;
  /** Per row: prompt and continuation as text (BOS dropped, other specials rendered). */
  texts: string[];
  /** Per row: the continuation only. */
  completions: string[];
  /** Per row: all token ids, BOS first. */
  ids: number[][];
  /** BOS + prompt tokens per row. */
  prefixLength: number;
  /** Generated tokens per row. */
  lengths: number[];
  /** Network calls (see `SampleResult.nfe`). */
  nfe: number;
  /** KV commit passes. */
  commits: number;
  /** Size of every generated block, in order (as the sampler reported). */
  blockSizes: number[];
  /** Per row: why a stop rule ended it, or null. */
  stopReasons: (string | null)[];
  /** Per row: marked rejected by a stop rule (`onStop: "reject"`). */
  rejected: boolean[];
  /** Wall-clock seconds of the whole sampling run. */
  seconds: number;
  /** Of `seconds`, the time spent on the prompt before decoding began (0 without a prompt). */
  prefillSeconds: number;
  /** Generated tokens of all rows per second. */
  tokensPerSecond: number;
}

function innerSampler(opts: GenerateOptions, blockSize: number): InnerSampler {
  switch (opts.sampler ?? "first-hitting") {
    case "ancestral":
      return ancestral(opts.steps ?? blockSize);
    case "first-hitting":
      return firstHitting();
    case "confidence":
      return confidenceUnmasking({ threshold: opts.threshold ?? 0.9 });
    default:
      throw new RangeError(`unknown sampler ${JSON.stringify(opts.sampler)}`);
  }
}

function stopRules(tokenizer: Tokenizer, opts: GenerateOptions): StopRule[] {
  const rules: StopRule[] = [];
  if (opts.stopAtEos ?? true) rules.push(eosStop(tokenizer.eosId));
  if (opts.entropyStop) rules.push(entropyStop(opts.entropyStop));
  return rules;
}

/** Generates text with `model`; see {@link GenerateOptions}. */
export async function generate(
  model: Dit,
  tokenizer: Tokenizer,
  opts: GenerateOptions = {},
): Promise<GenerateResult> {
  const c = model.config;
  const algo = opts.algo ?? c.algo;
  const prompts = opts.prompt === undefined
    ? []
    : typeof opts.prompt === "string"
    ? [opts.prompt]
    : [...opts.prompt];
  const batch = opts.batch ?? Math.max(prompts.length, 1);
  const encoded = prompts.map((p) => tokenizer.encode(p));
  const prompt = encoded.length === 0 ? undefined : encoded.length === 1 ? encoded[0] : encoded;
  const length = opts.length ?? c.length;
  const common = {
    maskId: tokenizer.maskId,
    bosId: tokenizer.bosId,
    prompt,
    length,
    seed: opts.seed ?? 0,
    probabilities: { temperature: opts.temperature, topP: opts.topP },
    stopRules: stopRules(tokenizer, opts),
    onStop: opts.onStop,
    minStopLength: opts.minStopLength,
    onStep: opts.onStep,
    signal: opts.signal,
  };
  const kv = opts.kvCache ?? true;
  const window = opts.window ?? c.length;
  const started = performance.now();
  let result: SampleResult;
  let sampler: string;
  if (algo === "bd3lm") {
    const policy: BlockSizePolicy = typeof opts.blockSize === "object"
      ? adaptiveBlockSize(opts.blockSize.adaptive)
      : fixedBlockSize(opts.blockSize ?? c.blockSize);
    const inner = innerSampler(opts, policy.sizes[0]);
    sampler = `bd3lm ${kv ? "kv" : "window"} ${inner.name} ${policy.name}`;
    if (kv) {
      using d = new KvBlockDenoiser(model, batch, { window });
      result = await semiArSample(d, {
        ...common,
        inner,
        blockSize: policy,
        prefixChunk: c.blockSize,
      });
    } else {
      using d = new WindowBlockDenoiser(model, batch, { window });
      result = await semiArSample(d, {
        ...common,
        inner,
        blockSize: policy,
        prefixChunk: c.blockSize,
      });
    }
  } else if (algo === "mdlm") {
    if (length !== c.length) throw new RangeError(`MDLM samples its model length ${c.length}`);
    const inner = innerSampler(opts, length);
    sampler = `mdlm ${inner.name}`;
    using d = new FullSequenceDenoiser(model, batch);
    result = await mdlmSample(d, { ...common, inner });
  } else if (algo === "sedd") {
    const steps = opts.steps ?? 128;
    sampler = `sedd analytic(T=${steps})`;
    result = await analyticSample(new DitScoreModel(model, batch), { ...common, steps });
  } else {
    sampler = `ar ${kv ? "kv" : "window"}`;
    if (kv) {
      using m = new KvArModel(model, batch, { window });
      result = await arSample(m, common);
    } else {
      using m = new WindowArModel(model, batch, { window });
      result = await arSample(m, common);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const P = result.prefixLength;
  const lengths = result.rows.map((r) => r.length - P);
  const generated = lengths.reduce((a, b) => a + b, 0);
  return {
    algo,
    sampler,
    texts: result.rows.map((r) => tokenizer.decode(r.subarray(1))),
    completions: result.rows.map((r) => tokenizer.decode(r.subarray(P))),
    ids: result.rows.map((r) => [...r]),
    prefixLength: P,
    lengths,
    nfe: result.nfe,
    commits: result.commits,
    blockSizes: result.blockSizes,
    stopReasons: result.stops.map((s) => s?.reason ?? null),
    rejected: result.rejected,
    seconds,
    prefillSeconds: result.prefillSeconds ?? 0,
    tokensPerSecond: generated / Math.max(seconds, 1e-9),
  };
}
