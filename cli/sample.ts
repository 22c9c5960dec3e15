/**
 * `bd3 sample`: generates text from a model directory (or a training run) with any of the
 * samplers: BD3-LM semi-autoregressive block sampling with or without the KV cache, fixed or
 * adaptive block sizes, first-hitting / ancestral / confidence inner samplers, nucleus and
 * temperature, EOS and low-entropy stops, lengths beyond the training context, and a live
 * terminal view of the denoising. Reports the network calls (NFE) and tokens per second.
 * @module
 */
import { acquireTunedGpu, prepareForSampling } from "./gpu.ts";
import type { ModelConfig } from "@blockdiff/model/io";
import { generate, type GenerateOptions, type GenerateResult } from "@blockdiff/sampling";
import { applyConfigFile, type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";
import { parseList } from "./parse.ts";
import { checkWeights, fmtRate, modelArg, readModel, toGpu } from "./model.ts";
import { LiveView } from "./live_view.ts";
import { Progress } from "./progress.ts";

/**
 * Escapes C0 controls (but newline and tab) and DEL as `\xNN`, so sampled bytes cannot move
 * the cursor, ring the bell or change the terminal's state.
 */
export function escapeControls(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x08\x0b-\x1f\x7f]/g,
    (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/**
 * The entropy stop's default threshold for a vocabulary, in nats. The reference's 4 suits
 * GPT-2's 50k tokens. A byte-level text has far fewer symbols: over 256-byte windows of the
 * Brown corpus the unigram entropy was 2.92 nats at the median and 2.72 at the 0.1st
 * percentile, while repetition loops of a phrase of up to about 20 characters ("and then he
 * said that ") stay at or below 2.1, so 2.5 stops loops and spares English.
 */
export function defaultEntropyThreshold(vocab: number): number {
  return vocab <= 512 ? 2.5 : 4;
}

/** Sampling flags, shared with `bd3 eval` (which samples for generative perplexity). */
export const SAMPLING_FLAGS: Record<string, FlagSpec> = {
  sampler: {
    type: "string",
    help: "inner sampler of BD3-LM and MDLM models",
    default: "first-hitting",
    choices: ["first-hitting", "ancestral", "confidence"],
  },
  steps: {
    type: "number",
    help: "ancestral: denoising steps per block (default: the block size); SEDD: grid steps",
    integer: true,
    min: 1,
  },
  threshold: {
    type: "number",
    help: "confidence sampler: unmask when p ≥ this",
    default: 0.9,
    min: 0,
    max: 1,
  },
  "top-p": {
    type: "number",
    help: "nucleus p",
    default: 1,
    min: 0,
    minExclusive: true,
    max: 1,
  },
  temperature: { type: "number", help: "softmax temperature (0: greedy)", default: 1, min: 0 },
  "block-size": {
    type: "number",
    help: "BD3-LM block size (default: the model's)",
    integer: true,
    min: 1,
  },
  adaptive: { type: "string", help: "adaptive block size over these sizes, e.g. 4,8,16" },
  "adaptive-measure": {
    type: "string",
    help: "adaptive signal",
    default: "confidence",
    choices: ["confidence", "entropy"],
  },
  "adaptive-threshold": {
    type: "number",
    help: "adaptive: take a size when its measure passes this (default 0.5 / 2 nats)",
  },
  "kv-cache": {
    type: "boolean",
    help: "use the KV cache (on; --no-kv-cache recomputes the context window every call)",
    default: true,
  },
  window: {
    type: "number",
    help: "context window in tokens (default: the model length)",
    integer: true,
    min: 1,
  },
  stop: {
    type: "string",
    help: "stop rules: eos, entropy, both (= eos,entropy) or none",
    default: "eos",
  },
  "entropy-window": {
    type: "number",
    help: "entropy stop: trailing window",
    default: 256,
    integer: true,
    min: 1,
  },
  "entropy-threshold": {
    type: "number",
    help: "entropy stop: stop below this unigram entropy in nats (default 4; 2.5 for byte-level " +
      "models)",
    min: 0,
  },
  "min-stop-length": {
    type: "number",
    help: "no stop rule cuts a sample shorter than this many tokens (BOS and prompt included)",
    default: 0,
    integer: true,
    min: 0,
  },
};

const FLAGS: Record<string, FlagSpec> = {
  model: {
    type: "string",
    help: "model directory, training run or Hub id org/name[@revision] (default: models/bundled)",
  },
  prompt: { type: "string", help: "text to continue" },
  "max-new-tokens": {
    type: "number",
    help: "tokens to generate after the prompt (the Hugging Face / OpenAI convention)",
    integer: true,
    min: 1,
  },
  length: {
    type: "number",
    help: "or: tokens per sample incl. BOS and prompt; may exceed the training context " +
      "(default: the model length)",
    integer: true,
    min: 1,
  },
  samples: { type: "number", help: "samples to draw", default: 1, integer: true, min: 1 },
  batch: {
    type: "number",
    help: "samples drawn together in one run",
    default: 1,
    integer: true,
    min: 1,
  },
  ...SAMPLING_FLAGS,
  seed: {
    type: "number",
    help: "seed (run i uses seed + i)",
    default: 0,
    integer: true,
    min: 0,
    max: 0xffffffff,
  },
  live: { type: "boolean", help: "show the denoising live (redrawn in place on a terminal)" },
  json: { type: "boolean", help: "print one JSON object instead of text" },
  config: { type: "string", help: "JSON file with any of these flags (flags given here win)" },
  adapter: { type: "string", help: "adapter: lavapipe, swiftshader or part of a GPU's name" },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 sample`. */
export const SAMPLE_HELP =
  `bd3 sample — generate text with a block diffusion (or MDLM / SEDD / AR) model

Usage: bd3 sample [--model <dir>] [flags]

${formatFlags(FLAGS)}

Examples:
  bd3 sample --model runs/micro --prompt "The jury said" --length 128 --live
  bd3 sample --model models/bd3lm-bs4 --samples 8 --batch 4 --top-p 0.9 --json
  bd3 sample --model runs/micro --adaptive 4,8,16 --stop eos,entropy --entropy-window 64
  bd3 sample --model runs/micro --sampler ancestral --steps 8 --block-size 8 --no-kv-cache
  bd3 sample --model runs/micro --length 512 --seed 3      # 4× the training context`;

const SAMPLERS = ["first-hitting", "ancestral", "confidence"] as const;

function positiveInt(v: unknown, flag: string, command: string): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1) {
    throw new UsageError(`bd3 ${command}: --${flag} must be a positive integer, got ${v}`);
  }
  return v;
}

/**
 * Checks the sampling flags against the model's config and turns them into
 * {@link GenerateOptions} (without prompt, batch, seed and length). Every impossible setting
 * is a one-line {@link UsageError} naming the flag.
 */
export function samplingOptions(
  f: Record<string, unknown>,
  config: ModelConfig,
  command: string,
  given: ReadonlySet<string> = new Set(),
): GenerateOptions {
  const err = (msg: string) => new UsageError(`bd3 ${command}: ${msg}`);
  const sampler = f.sampler as string;
  // A flag that would be ignored is refused: the user asked for something that cannot happen.
  const algo = config.algo;
  if (given.has("sampler") && (algo === "ar" || algo === "sedd")) {
    throw err(
      `--sampler is for BD3-LM and MDLM models; ${algo.toUpperCase()} has its own ` +
        (algo === "ar" ? "token-by-token sampler" : "analytic sampler (see --steps)"),
    );
  }
  if (given.has("steps") && algo !== "sedd" && sampler !== "ancestral") {
    throw err(`--steps applies to --sampler ancestral and to SEDD models`);
  }
  if (given.has("threshold") && sampler !== "confidence") {
    throw err(`--threshold applies to --sampler confidence`);
  }
  if (given.has("adaptive-threshold") && f.adaptive === undefined) {
    throw err(`--adaptive-threshold needs --adaptive`);
  }
  if (!(SAMPLERS as readonly string[]).includes(sampler)) {
    throw err(`--sampler must be ${SAMPLERS.join(", ")}; got '${sampler}'`);
  }
  const steps = f.steps === undefined ? undefined : positiveInt(f.steps, "steps", command);
  const threshold = f.threshold as number;
  if (!(threshold >= 0 && threshold <= 1)) {
    throw err(`--threshold must be in [0, 1], got ${threshold}`);
  }
  const topP = f["top-p"] as number;
  if (!(topP > 0 && topP <= 1)) throw err(`--top-p must be in (0, 1], got ${topP}`);
  const temperature = f.temperature as number;
  if (!(temperature >= 0)) throw err(`--temperature must be ≥ 0, got ${temperature}`);
  const window = f.window === undefined ? config.length : positiveInt(f.window, "window", command);
  if (window > config.length) {
    throw err(`--window ${window} exceeds the model's context of ${config.length} tokens`);
  }
  const stops = String(f.stop).split(",").map((s) => s.trim()).filter(Boolean)
    .flatMap((s) => (s === "both" ? ["eos", "entropy"] : [s]));
  for (const s of stops) {
    if (!["eos", "entropy", "none"].includes(s)) {
      throw err(`--stop takes eos, entropy, both or none (comma-separated), got '${s}'`);
    }
  }
  if (stops.includes("none") && stops.length > 1) throw err(`--stop none excludes other rules`);
  const entropyWindow = positiveInt(f["entropy-window"], "entropy-window", command);
  const entropyThreshold = (f["entropy-threshold"] as number | undefined) ??
    defaultEntropyThreshold(config.vocab);
  if (!(entropyThreshold >= 0)) {
    throw err(`--entropy-threshold must be ≥ 0 nats, got ${entropyThreshold}`);
  }
  const minStop = f["min-stop-length"] as number;
  if (!Number.isInteger(minStop) || minStop < 0) {
    throw err(`--min-stop-length must be an integer ≥ 0, got ${minStop}`);
  }

  let blockSize: GenerateOptions["blockSize"];
  if (f["block-size"] !== undefined && f.adaptive !== undefined) {
    throw err(`give either --block-size or --adaptive, not both`);
  }
  if ((f["block-size"] !== undefined || f.adaptive !== undefined) && config.algo !== "bd3lm") {
    throw err(`--block-size and --adaptive are for BD3-LM models; this one is ${config.algo}`);
  }
  const divides = (b: number, flag: string) => {
    if (b > window || window % b !== 0) {
      throw err(
        `--${flag} ${b} must divide the context window of ${window} tokens` +
          (f.window === undefined ? " (the model length; see --window)" : ""),
      );
    }
  };
  if (f["block-size"] !== undefined) {
    blockSize = positiveInt(f["block-size"], "block-size", command);
    divides(blockSize, "block-size");
  } else if (f.adaptive !== undefined) {
    const sizes = parseList(f.adaptive as string, "adaptive", command);
    for (const b of sizes) divides(b, "adaptive");
    const measure = f["adaptive-measure"] as string;
    if (measure !== "confidence" && measure !== "entropy") {
      throw err(`--adaptive-measure must be confidence or entropy, got '${measure}'`);
    }
    const threshold = f["adaptive-threshold"] as number | undefined;
    if (
      measure === "confidence" && threshold !== undefined && !(threshold >= 0 && threshold <= 1)
    ) {
      throw err(`--adaptive-threshold for confidence must be in [0, 1], got ${threshold}`);
    }
    blockSize = { adaptive: { sizes, measure, threshold } };
  } else if (config.algo === "bd3lm") {
    divides(config.blockSize, "block-size");
  }
  if (f["adaptive-measure"] !== "confidence" && f.adaptive === undefined) {
    throw err(`--adaptive-measure needs --adaptive`);
  }
  return {
    sampler: sampler as GenerateOptions["sampler"],
    steps,
    threshold,
    topP,
    temperature,
    blockSize,
    kvCache: Boolean(f["kv-cache"]),
    window,
    stopAtEos: stops.includes("eos"),
    entropyStop: stops.includes("entropy")
      ? { window: entropyWindow, threshold: entropyThreshold }
      : false,
    minStopLength: minStop,
  };
}

/**
 * Most tokens one sample may hold: a bound on host memory (a few ints per token and row), far
 * past any context; a longer run is best split into several.
 */
export const MAX_LENGTH = 1 << 20;

/** Checks `--length` against the model and the prompt (`prefix`: BOS + prompt tokens). */
export function checkLength(
  length: number,
  config: ModelConfig,
  prefix: number,
  command: string,
): void {
  if (!Number.isInteger(length) || length < 1) {
    throw new UsageError(`bd3 ${command}: --length must be a positive integer, got ${length}`);
  }
  if (length > MAX_LENGTH) {
    throw new UsageError(
      `bd3 ${command}: ${length} tokens is past the ${MAX_LENGTH}-token limit of one sample`,
    );
  }
  if (length <= prefix) {
    throw new UsageError(
      `bd3 ${command}: --length ${length} leaves nothing to generate after BOS and the ` +
        `${prefix - 1}-token prompt`,
    );
  }
  if ((config.algo === "mdlm" || config.algo === "sedd") && length !== config.length) {
    throw new UsageError(
      `bd3 ${command}: ${config.algo.toUpperCase()} samples exactly its model length ` +
        `${config.length}; drop --length or pass ${config.length}`,
    );
  }
}

/** Runs `bd3 sample`. */
export async function runSample(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv, FLAGS, "sample");
  if (parsed.flags.help) {
    console.log(SAMPLE_HELP);
    return 0;
  }
  if (parsed.flags.config) {
    await applyConfigFile(parsed, FLAGS, parsed.flags.config as string, "sample");
  }
  const f = parsed.flags;
  if (f.length !== undefined && f["max-new-tokens"] !== undefined) {
    throw new UsageError("bd3 sample: give --max-new-tokens or --length, not both");
  }
  const samples = positiveInt(f.samples, "samples", "sample");
  const batch = positiveInt(f.batch, "batch", "sample");
  if (batch > samples) {
    throw new UsageError(`bd3 sample: --batch ${batch} exceeds --samples ${samples}`);
  }
  const seed = f.seed as number;
  if (!Number.isInteger(seed) || seed < 0) {
    throw new UsageError(`bd3 sample: --seed must be an integer ≥ 0, got ${seed}`);
  }
  if (f.length !== undefined) positiveInt(f.length, "length", "sample");
  const host = await readModel(await modelArg(f.model, "sample"));
  const { config } = host.dir;
  const opts = samplingOptions(f, config, "sample", parsed.given);
  const prompt = f.prompt as string | undefined;
  const promptIds = prompt ? host.tokenizer.encode(prompt) : [];
  const newTokens = f["max-new-tokens"] as number | undefined;
  const length = newTokens !== undefined
    ? promptIds.length + 1 + newTokens
    : (f.length as number | undefined) ?? config.length;
  checkLength(length, config, promptIds.length + 1, "sample");

  using session = await acquireTunedGpu(f.adapter as string | undefined);
  using loaded = toGpu(session.gpu, host);
  await checkWeights(loaded);
  await prepareForSampling(loaded.model);
  const json = Boolean(f.json);
  const live = Boolean(f.live);
  // Sampled bytes may hold terminal controls (ESC sequences, BEL, NUL): shown escaped there.
  const show = Deno.stdout.isTerminal() ? escapeControls : (t: string) => t;
  const runs: GenerateResult[] = [];
  const rows: { text: string; completion: string; tokens: number; stop: string | null }[] = [];
  if (!json) {
    console.error(
      `sampling ${samples} × ${length} tokens with ${config.algo} from ${host.dir.dir} on ` +
        `${session.gpu.info.name}`,
    );
  }
  for (let done = 0, run = 0; done < samples; run++) {
    const n = Math.min(batch, samples - done);
    // With --json the text goes to stdout as JSON, so the live view moves to stderr.
    const view = live
      ? new LiveView(
        host.tokenizer,
        [host.tokenizer.bosId, ...promptIds],
        json ? Deno.stderr : Deno.stdout,
      )
      : null;
    if (view && !json && samples > 1) console.log(`── sample ${done + 1} ──`);
    // Long runs without the live view show how far they are (on stderr).
    const bar = !view && length > 4 * config.length
      ? new Progress(`sample ${done + 1}`, length, { quiet: json && !Deno.stderr.isTerminal() })
      : null;
    const out = await generate(loaded.model, host.tokenizer, {
      ...opts,
      prompt,
      batch: n,
      length,
      seed: seed + run,
      onStep: view ? (e) => view.onStep(e, host.tokenizer.maskId) : bar
        ? (e) => {
          if (e.kind === "block") bar.update(e.blockStart + e.size, "tokens");
        }
        : undefined,
    });
    view?.finish();
    bar?.end();
    runs.push(out);
    for (let r = 0; r < n; r++) {
      const row = {
        text: out.texts[r],
        completion: out.completions[r],
        tokens: out.lengths[r],
        stop: out.stopReasons[r],
      };
      rows.push(row);
      if (json) continue;
      // Row 0 was shown live (unless the sampler had no block events, as SEDD's grid).
      const shown = view !== null && r === 0 && view.committed > out.prefixLength;
      if (shown) continue;
      console.log(
        `── sample ${done + r + 1} (${row.tokens} tokens, stop: ${row.stop ?? "length"}) ──`,
      );
      console.log(show(row.text));
    }
    done += n;
  }
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  const tokens = rows.reduce((a, r) => a + r.tokens, 0);
  const nfe = runs.reduce((a, r) => a + r.nfe, 0);
  // One network call serves every row of its run: count the tokens of an average row per run.
  const rowTokens = runs.reduce(
    (a, r) => a + r.lengths.reduce((x, y) => x + y, 0) / r.lengths.length,
    0,
  );
  const sizes = runs.flatMap((r) => r.blockSizes);
  const summary = {
    model: host.dir.dir,
    algo: config.algo,
    sampler: runs[0].sampler,
    seed,
    length,
    runs: runs.length,
    nfe: nfe / runs.length,
    nfePerToken: rowTokens ? nfe / rowTokens : null,
    meanBlockSize: sizes.length ? sizes.reduce((a, b) => a + b, 0) / sizes.length : null,
    tokens,
    seconds,
    tokensPerSecond: seconds > 0 ? tokens / seconds : null,
  };
  if (json) {
    console.log(JSON.stringify({ ...summary, samples: rows }, null, 2));
  } else {
    console.error(
      `${summary.sampler}: NFE ${summary.nfe.toFixed(1)} per run` +
        (summary.nfePerToken !== null ? ` (${summary.nfePerToken.toFixed(3)} per token)` : "") +
        `, ${tokens} tokens in ${seconds.toFixed(2)} s = ${fmtRate(tokens / seconds)} tok/s`,
    );
  }
  return 0;
}
