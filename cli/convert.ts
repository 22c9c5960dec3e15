/**
 * `bd3 convert`: moves models between blockdiff and the Hugging Face BD3-LM layout.
 * - From a training run (its latest checkpoint, EMA weights by default) or a model directory
 *   to a Hugging Face directory that PyTorch code loads (`config.json` + `model.safetensors`).
 * - From a Hugging Face directory (e.g. a downloaded `kuleshov-group/bd3lm-owt-block_size4`)
 *   to a blockdiff model directory, validated key by key, with the tokenizer recorded.
 * - From the reference's Lightning `last.ckpt` (read without running its pickle; EMA weights
 *   by default, the config from its Hydra config), and to a `.ckpt` that the reference's
 *   `training.from_pretrained=` loads (`torch.load(weights_only=True)`-safe).
 * @module
 */
import { join } from "node:path";
import { type Algo, ALGOS, type ModelConfig, type TensorMap } from "@blockdiff/model/io";
import {
  latestCheckpointPath,
  loadLightningCheckpoint,
  loadModelDir,
  loadTrainingCheckpoint,
  META_FILE,
  resolveModelRef,
  saveLightningCheckpoint,
  saveModelDir,
  TOKENIZER_FILE,
  writeFileAtomic,
} from "@blockdiff/model/deno";
import { loadTokenizer, TOKENIZER_NAMES } from "@blockdiff/data";
import { type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";

const FLAGS: Record<string, FlagSpec> = {
  from: {
    type: "string",
    help: "a training run, a model directory, a Hugging Face directory, or a Lightning .ckpt",
  },
  to: {
    type: "string",
    help: "output directory (created; files replaced atomically), or a Lightning .ckpt file",
  },
  weights: {
    type: "string",
    help: "from a run or a .ckpt: ema or raw training weights (the .ckpt state_dict)",
    default: "ema",
  },
  algo: {
    type: "string",
    help: "from a .ckpt without a Hydra config: its algorithm",
    choices: ALGOS,
  },
  "block-size": {
    type: "number",
    help: "from a .ckpt without a Hydra config: its block size",
    integer: true,
    min: 1,
  },
  length: {
    type: "number",
    help: "from a .ckpt without a Hydra config: its context length",
    integer: true,
    min: 1,
  },
  dtype: { type: "string", help: "stored float type: f32, f16 or bf16", default: "f32" },
  compress: {
    type: "boolean",
    help: "store model.safetensors.gz (fflate) instead of the plain file",
  },
  tokenizer: {
    type: "string",
    help:
      "tokenizer to record for an imported HF model or .ckpt (gpt2, bert, bytes, tokenizer.json)",
  },
  json: { type: "boolean", help: "print a JSON summary" },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 convert`. */
export const CONVERT_HELP =
  `bd3 convert — export to / import from the Hugging Face BD3-LM layout and Lightning .ckpt files

Usage: bd3 convert --from <dir|file.ckpt> --to <dir|file.ckpt> [flags]

${formatFlags(FLAGS)}

Examples:
  bd3 convert --from runs/micro --to exported/micro          # run → HF layout (EMA weights)
  bd3 convert --from ~/hf/bd3lm-owt-block_size4 --to models/bd3lm-bs4 --tokenizer gpt2
  bd3 convert --from models/bd3lm-bs4 --to models/bd3lm-bs4-f16 --dtype f16
  bd3 convert --from runs/bundle --to models/bundled --dtype f16 --compress
  bd3 convert --from runs/micro --to micro.ckpt              # run → the reference's Lightning
  bd3 convert --from outputs/checkpoints/last.ckpt --to models/x   # Lightning → model dir (EMA)`;

const DTYPES: Record<string, "F32" | "F16" | "BF16"> = { f32: "F32", f16: "F16", bf16: "BF16" };

/** Runs `bd3 convert`. */
export async function runConvert(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, FLAGS, "convert");
  if (flags.help) {
    console.log(CONVERT_HELP);
    return 0;
  }
  const from = flags.from as string | undefined;
  const to = flags.to as string | undefined;
  if (!from || !to) {
    throw new UsageError("bd3 convert: give both --from and --to (see bd3 convert --help)");
  }
  const dtype = DTYPES[flags.dtype as string];
  if (!dtype) {
    throw new UsageError(`bd3 convert: --dtype must be f32, f16 or bf16, got '${flags.dtype}'`);
  }
  if (!["ema", "raw"].includes(flags.weights as string)) {
    throw new UsageError(`bd3 convert: --weights must be ema or raw`);
  }

  let config: ModelConfig;
  let tensors: TensorMap;
  let meta: { tokenizer: string; maskId: number; [k: string]: unknown };
  let source: string;
  // A run's metrics up to the exported step: shipped with the model for its curves.
  let metrics: RunMetricsUpTo | null = null;
  // Both weight sets, for a .ckpt output (it holds state_dict and the EMA shadow).
  let raw: TensorMap | null = null;
  let emaSet: TensorMap | null = null;
  let step = 0;
  let emaDecay: number | undefined;
  // Where a relative tokenizer.json path in `meta` is read from (the copy is made on save).
  let tokenizerBase: string | undefined;
  const ckpt = /\.ckpt$/i.test(from)
    ? null
    : await latestCheckpointPath(join(from, "checkpoints")).catch(() => null);
  if (/\.ckpt$/i.test(from)) {
    const ck = await loadLightningCheckpoint(from, {
      algo: flags.algo as Algo | undefined,
      blockSize: flags["block-size"] as number | undefined,
      length: flags.length as number | undefined,
    });
    config = ck.config;
    const useEma = flags.weights === "ema" && ck.ema !== null;
    tensors = useEma ? ck.ema! : ck.weights;
    raw = ck.weights;
    emaSet = ck.ema;
    step = ck.step;
    emaDecay = ck.emaDecay ?? undefined;
    // A .ckpt → .ckpt conversion records no tokenizer, so it needs none.
    const tokenizer = /\.ckpt$/i.test(to) ? null : (flags.tokenizer as string | undefined) ??
      await tokenizerForVocab(config.vocab);
    const tok = tokenizer === null ? null : await loadTokenizer(tokenizer);
    if (tok && tok.vocabSize !== config.vocab) {
      throw new UsageError(
        `bd3 convert: tokenizer ${tokenizer} has ${tok.vocabSize} ids but the checkpoint's vocabulary is ${config.vocab}`,
      );
    }
    meta = {
      tokenizer: tokenizer ?? "",
      maskId: tok?.maskId ?? config.vocab - 1,
      steps: ck.step,
      weights: useEma ? "ema" : "raw",
    };
    source = `${from} (${useEma ? "EMA" : "raw"} weights, step ${ck.step})`;
  } else if (ckpt) {
    const state = await loadTrainingCheckpoint(ckpt);
    config = state.config;
    const useEma = flags.weights === "ema" && state.ema;
    tensors = useEma ? state.ema! : state.weights;
    raw = state.weights;
    emaSet = state.ema ?? null;
    step = state.step;
    const run = JSON.parse(await Deno.readTextFile(join(from, "run.json")).catch(() => "{}"));
    metrics = await runMetricsUpTo(join(from, "metrics.jsonl"), state.step);
    meta = {
      tokenizer: run.meta?.tokenizer ?? "gpt2",
      maskId: run.meta?.maskId ?? config.vocab - 1,
      steps: state.step,
      weights: useEma ? "ema" : "raw",
      training: trainingRecord(run, metrics?.rows ?? [], state.step),
    };
    source = `${ckpt} (${useEma ? "EMA" : "raw"} weights, step ${state.step})`;
    // The run's own copy first: the path given to `bd3 train` may be gone or relative to
    // another working directory.
    if (meta.tokenizer.endsWith(".json")) {
      const own = join(from, "model", TOKENIZER_FILE);
      if (await Deno.stat(own).then((s) => s.isFile, () => false)) meta.tokenizer = own;
    }
  } else {
    const m = await loadModelDir(await resolveModelRef(from));
    config = m.config;
    tensors = m.tensors;
    meta = { ...m.meta };
    step = typeof m.meta.steps === "number" ? m.meta.steps : 0;
    tokenizerBase = m.dir;
    if (flags.tokenizer) {
      const tok = await loadTokenizer(flags.tokenizer as string);
      if (tok.vocabSize !== config.vocab) {
        throw new UsageError(
          `bd3 convert: tokenizer ${flags.tokenizer} has ${tok.vocabSize} ids but the model's vocabulary is ${config.vocab}`,
        );
      }
      meta = { ...meta, tokenizer: flags.tokenizer as string, maskId: tok.maskId };
      tokenizerBase = undefined;
    }
    if (!flags.tokenizer && !(await hasMetaFile(m.dir))) {
      // A Hugging Face directory says nothing of its tokenizer: infer it from the vocabulary.
      const name = await tokenizerForVocab(config.vocab);
      const tok = await loadTokenizer(name);
      meta = { ...meta, tokenizer: name, maskId: tok.maskId };
    }
    source = m.dir;
  }
  if (/\.ckpt$/i.test(to)) {
    // state_dict holds the training weights and ema.shadow_params the EMA (the reference
    // samples with it); a model directory has one set, which then fills both.
    await saveLightningCheckpoint(to, {
      config,
      weights: raw ?? tensors,
      ema: emaSet ?? raw ?? tensors,
      emaDecay,
      step,
    });
    const line = `wrote ${to} (Lightning checkpoint, ${config.algo}, L′=${config.blockSize}, ` +
      `step ${step}) from ${source}`;
    console.log(flags.json ? JSON.stringify({ from: source, to, algo: config.algo }) : line);
    return 0;
  }
  await saveModelDir(to, config, tensors, meta, {
    floatDtype: dtype,
    compress: Boolean(flags.compress),
    tokenizerBase,
  });
  if (metrics !== null) {
    await writeFileAtomic(join(to, "metrics.jsonl"), new TextEncoder().encode(metrics.text));
  }
  const summary = {
    from: source,
    to,
    algo: config.algo,
    blockSize: config.blockSize,
    dtype: flags.dtype,
  };
  if (flags.json) console.log(JSON.stringify(summary));
  else {console.log(
      `wrote ${to} (${config.algo}, L′=${config.blockSize}, ${flags.dtype}) from ${source}`,
    );}
  return 0;
}

/** A run's metrics up to `step` (a later resume may have gone past it): its lines and rows. */
interface RunMetricsUpTo {
  /** The kept lines, as they were written (shipped with the model). */
  text: string;
  /** The same lines, parsed. */
  rows: Record<string, unknown>[];
}

/** The rows of a run's metrics.jsonl with a step ≤ `step`, or null when there are none. */
async function runMetricsUpTo(path: string, step: number): Promise<RunMetricsUpTo | null> {
  const text = await Deno.readTextFile(path).catch(() => null);
  if (text === null) return null;
  const lines: string[] = [], rows: Record<string, unknown>[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const row = JSON.parse(line);
      if (typeof row?.step === "number" && row.step <= step) {
        lines.push(line);
        rows.push(row);
      }
    } catch {
      // A line cut by a kill is not a metric.
    }
  }
  return lines.length ? { text: lines.join("\n") + "\n", rows } : null;
}

/**
 * How the exported weights were trained, for `blockdiff.json`: the run's flags, the steps and
 * tokens seen, the summed step time and the adapter, and the last validation loss.
 */
function trainingRecord(
  run: { flags?: Record<string, unknown>; meta?: { adapter?: string } },
  rows: readonly Record<string, unknown>[],
  step: number,
): Record<string, unknown> {
  let tokens = 0, ms = 0, valLoss: number | null = null;
  for (const row of rows) {
    if (typeof row.tokens === "number") tokens += row.tokens;
    if (typeof row.ms === "number") ms += row.ms;
    if (typeof row.valLoss === "number") valLoss = row.valLoss;
  }
  return {
    steps: step,
    tokensSeen: tokens,
    trainSeconds: Math.round(ms / 1000),
    adapter: run.meta?.adapter ?? null,
    lastValLoss: valLoss,
    flags: run.flags ?? null,
  };
}

async function hasMetaFile(dir: string): Promise<boolean> {
  return await Deno.stat(join(dir, META_FILE)).then((st) => st.isFile, () => false);
}

/**
 * The built-in tokenizer whose vocabulary has exactly `vocab` ids (GPT-2 + mask 50258, BERT
 * 30522, bytes 260); any other size is ambiguous and must be named with `--tokenizer`.
 */
export async function tokenizerForVocab(vocab: number): Promise<string> {
  for (const name of TOKENIZER_NAMES) {
    if ((await loadTokenizer(name)).vocabSize === vocab) return name;
  }
  throw new UsageError(
    `bd3 convert: no built-in tokenizer has a vocabulary of ${vocab} ids; pass --tokenizer ` +
      `with the model's tokenizer.json (or gpt2, bert, bytes)`,
  );
}
