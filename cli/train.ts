/**
 * `bd3 train`: trains AR, MDLM, SEDD or BD3-LM on the embedded corpus or a local file, with
 * checkpoints every N steps (atomic), exact resume, JSON-lines metrics, a final Hugging
 * Face-layout export of the EMA weights, and Ctrl-C that saves before exiting.
 * @module
 */
import { join } from "node:path";
import { acquireTunedGpu } from "./gpu.ts";
import { type Algo, ALGOS, IoError, MODEL_SIZES, modelConfig } from "@blockdiff/model/io";
import {
  loadModelDir,
  saveModelDir,
  saveTrainingCheckpoint,
  writeFileAtomic,
} from "@blockdiff/model/deno";
import { BatchIterator, loadTokenizer, splitOf } from "@blockdiff/data";
import { brownIds, loadChunks } from "@blockdiff/data/deno";
import { Dit, ParamSet } from "@blockdiff/model";
import { Trainer } from "@blockdiff/train";
import { evalBatches, testPerplexity } from "@blockdiff/eval";
import { loadIntactCheckpoint, prepareRunDir, readRunRecord } from "./run_dir.ts";
import { applyConfigFile, type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";
import { DATA_FLAGS, dataSource } from "./data_flags.ts";
import { Progress } from "./progress.ts";
import { parseClip, parseList } from "./parse.ts";

const FLAGS: Record<string, FlagSpec> = {
  ...DATA_FLAGS,
  tokenizer: {
    type: "string",
    help: "gpt2, bert, bytes or a tokenizer.json path",
    default: "gpt2",
  },
  algo: { type: "string", help: "algorithm", default: "bd3lm", choices: ALGOS },
  size: {
    type: "string",
    help: "model size",
    default: "tiny",
    choices: Object.keys(MODEL_SIZES),
  },
  hidden: { type: "number", help: "override the hidden width", integer: true, min: 1 },
  blocks: {
    type: "number",
    help: "override the number of transformer blocks",
    integer: true,
    min: 1,
  },
  heads: { type: "number", help: "override the number of attention heads", integer: true, min: 1 },
  length: { type: "number", help: "context length L", default: 128, integer: true, min: 2 },
  "block-size": {
    type: "number",
    help: "block size L′ (bd3lm; must divide --length)",
    default: 4,
    integer: true,
    min: 1,
  },
  "block-sizes": {
    type: "string",
    help: "adaptive block size training (bd3lm): sizes to draw, e.g. 4,8,16",
  },
  batch: { type: "number", help: "sequences per micro-batch", default: 8, integer: true, min: 1 },
  accumulate: {
    type: "number",
    help: "micro-batches per optimizer step",
    default: 1,
    integer: true,
    min: 1,
  },
  steps: {
    type: "number",
    help: "optimizer steps to train (in total, counting resumed ones)",
    default: 1000,
    integer: true,
    min: 1,
  },
  lr: { type: "number", help: "peak learning rate", default: 3e-4, min: 0, minExclusive: true },
  warmup: { type: "number", help: "warm-up steps", default: 100, integer: true, min: 0 },
  schedule: {
    type: "string",
    help: "learning-rate schedule",
    default: "constant",
    choices: ["constant", "cosine"],
  },
  clip: {
    type: "string",
    help: "diffusion algorithms: clipped noise interval β,ω (e.g. 0.3,0.8); default 0.001,1",
  },
  resample: { type: "boolean", help: "with --clip: redraw masks of blocks outside the interval" },
  "grad-clip": { type: "number", help: "maximum gradient norm (0: off)", default: 1, min: 0 },
  "weight-decay": { type: "number", help: "AdamW weight decay", default: 0, min: 0 },
  ema: {
    type: "number",
    help: "EMA decay (0: no EMA)",
    default: 0.9999,
    min: 0,
    max: 1,
    maxExclusive: true,
  },
  dropout: {
    type: "number",
    help: "dropout probability",
    default: 0.1,
    min: 0,
    max: 1,
    maxExclusive: true,
  },
  seed: {
    type: "number",
    help: "seed of initialisation, noise and data order",
    default: 1,
    integer: true,
    min: 0,
    max: 0xffffffff,
  },
  init: {
    type: "string",
    help: "start from this model directory (e.g. an MDLM for BD3-LM fine-tuning)",
  },
  out: {
    type: "string",
    help: "run directory (checkpoints, metrics.jsonl, model/)",
    default: "runs/default",
  },
  "checkpoint-every": {
    type: "number",
    help: "steps between checkpoints",
    default: 100,
    integer: true,
    min: 1,
  },
  keep: { type: "number", help: "checkpoints to keep", default: 3, integer: true, min: 1 },
  "eval-every": {
    type: "number",
    help: "steps between validation losses on the held-out split, and at the last step (0: never)",
    default: 100,
    integer: true,
    min: 0,
  },
  "eval-batches": {
    type: "number",
    help: "validation batches of --batch sequences per evaluation",
    default: 4,
    integer: true,
    min: 1,
  },
  resume: {
    type: "boolean",
    help: "continue the run in --out with its saved settings (only --steps, " +
      "--checkpoint-every, --keep, --eval-every, --eval-batches, --json and --adapter may change)",
  },
  overwrite: { type: "boolean", help: "start over in an --out that already holds a run" },
  config: { type: "string", help: "JSON file with any of these flags (flags given here win)" },
  adapter: { type: "string", help: "adapter: lavapipe, swiftshader or part of a GPU's name" },
  json: { type: "boolean", help: "print one JSON line per step instead of a progress bar" },
  help: { type: "boolean", help: "show this help" },
};

/** Flags a resumed run may change; every other setting comes from the run's `run.json`. */
const RESUMABLE = new Set([
  "steps",
  "checkpoint-every",
  "keep",
  "eval-every",
  "eval-batches",
  // The clipped schedule `bd3 tune-schedule` finds is meant for the rest of a run.
  "clip",
  "resample",
]);
/** Flags that belong to one invocation and are never taken from the record. */
const PER_INVOCATION = new Set(["json", "adapter", "resume", "overwrite", "config", "help", "out"]);

/** Help text of `bd3 train`. */
export const TRAIN_HELP = `bd3 train — train a block diffusion (or AR / MDLM / SEDD) language model

Usage: bd3 train [flags]

${formatFlags(FLAGS)}

Examples:
  bd3 train --size micro --tokenizer bytes --length 64 --steps 300 --out runs/micro
  bd3 train --algo bd3lm --block-size 8 --data owt.parquet --text-field text --out runs/owt
  bd3 train --out runs/micro --resume --steps 600
  bd3 train --config train.json --clip 0.3,0.8 --resample`;

/** Runs `bd3 train`. */
export async function runTrain(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv, FLAGS, "train");
  if (parsed.flags.help) {
    console.log(TRAIN_HELP);
    return 0;
  }
  if (parsed.flags.config) {
    await applyConfigFile(parsed, FLAGS, parsed.flags.config as string, "train");
  }
  const out = parsed.flags.out as string;
  if (parsed.flags.resume && parsed.flags.overwrite) {
    throw new UsageError("bd3 train: give --resume (continue the run) or --overwrite, not both");
  }
  // A resumed run takes every setting from its own record, so a flag can't silently change it.
  if (parsed.flags.resume) {
    const record = await readRunRecord(out);
    for (const [name, saved] of Object.entries(record.flags)) {
      if (!(name in FLAGS) || PER_INVOCATION.has(name)) continue;
      if (RESUMABLE.has(name)) {
        if (!parsed.given.has(name)) parsed.flags[name] = saved as string | number | boolean;
        continue;
      }
      if (parsed.given.has(name) && parsed.flags[name] !== saved) {
        throw new UsageError(
          `bd3 train --resume: --${name} ${parsed.flags[name]} conflicts with the run's saved ` +
            `--${name} ${saved ?? "(unset)"} (${join(out, "run.json")}); drop the flag, or ` +
            `train a new run with another --out`,
        );
      }
      parsed.flags[name] = saved as string | number | boolean | undefined;
    }
  }
  const f = parsed.flags;
  const algo = f.algo as Algo;
  const length = f.length as number;
  if (parsed.given.has("block-size") && algo !== "bd3lm") {
    throw new UsageError(`bd3 train: --block-size is for --algo bd3lm (this run is ${algo})`);
  }
  const blockSize = algo === "bd3lm" ? f["block-size"] as number : length;
  if (length % blockSize !== 0) {
    throw new UsageError(`bd3 train: --block-size ${blockSize} must divide --length ${length}`);
  }
  if (f.clip && algo === "ar") {
    throw new UsageError("bd3 train: --clip is for the diffusion algorithms, not --algo ar");
  }
  if (f.resample && !f.clip) throw new UsageError("bd3 train: --resample needs --clip β,ω");
  const dropout = f.dropout as number;
  const interval = f.clip ? parseClip(f.clip as string, "train") : undefined;
  const blockSizes = f["block-sizes"]
    ? parseList(f["block-sizes"] as string, "block-sizes", "train")
    : undefined;
  if (blockSizes && algo !== "bd3lm") {
    throw new UsageError("bd3 train: --block-sizes is for --algo bd3lm");
  }
  for (const b of blockSizes ?? []) {
    if (length % b !== 0) {
      throw new UsageError(`bd3 train: --block-sizes ${b} must divide --length ${length}`);
    }
  }
  if (f.heads && f.hidden && (f.hidden as number) % (f.heads as number) !== 0) {
    throw new UsageError(
      `bd3 train: --hidden ${f.hidden} must be a multiple of --heads ${f.heads}`,
    );
  }
  const quiet = Boolean(f.json);
  const ckptDir = join(out, "checkpoints");
  const metricsPath = join(out, "metrics.jsonl");
  // Before tokenizing and acquiring the GPU: an unusable --out should fail in a second, and a
  // run already there is continued (--resume) or replaced (--overwrite), never mixed into.
  await prepareRunDir(out, { resume: Boolean(f.resume), overwrite: Boolean(f.overwrite) });

  const tokenizer = await loadTokenizer(f.tokenizer as string);
  const source = await dataSource(f.data as string, f["text-field"] as string);
  // Tokenizing runs only when the cache misses; the bar tracks documents (Brown) or bytes.
  const sourceSize = source.kind === "file"
    ? await expectedSize(source.path)
    : (await brownIds()).filter((id) => splitOf(id) === "train").length;
  const tokenizing = new Progress("tokenizing", Math.max(1, sourceSize), { quiet });
  let tokenized = false;
  let documentsRead = 0;
  const chunks = await loadChunks(source, {
    tokenizer,
    length,
    split: "train",
    onProgress: ({ documents, characters }) => {
      // Said only when the token cache misses: a cached corpus loads in a moment.
      if (!tokenized && !quiet) {
        const what = f.data === "brown" ? "the embedded Brown corpus" : f.data;
        console.error(`tokenizing ${what} with ${tokenizer.name}…`);
      }
      tokenized = true;
      documentsRead = documents;
      tokenizing.update(source.kind === "file" ? characters : documents, `${documents} documents`);
    },
  });
  if (tokenized) tokenizing.end(`${documentsRead} documents`);
  if (chunks.count < (f.batch as number)) {
    throw new UsageError(
      `bd3 train: the training split has ${chunks.count} chunks of ${length} tokens, fewer than --batch ${f.batch}`,
    );
  }

  const evalEvery = f["eval-every"] as number;
  const valChunks = evalEvery > 0
    ? await loadChunks(source, { tokenizer, length, split: "validation" })
    : null;
  if (valChunks && valChunks.count === 0 && !quiet) {
    console.error("warning: the validation split is empty; no validation loss will be reported");
  }

  using session = await acquireTunedGpu(f.adapter as string | undefined);
  const { gpu } = session;
  const init = f.init ? await loadModelDir(f.init as string) : null;
  const sizeName = f.size as string;
  const config = modelConfig({
    size: sizeName as "tiny",
    algo,
    vocab: tokenizer.vocabSize,
    length,
    blockSize,
    dropout,
    ...(f.hidden ? { hidden: f.hidden as number } : {}),
    ...(f.blocks ? { blocks: f.blocks as number } : {}),
    ...(f.heads ? { heads: f.heads as number } : {}),
    ...(init
      ? {
        hidden: init.config.hidden,
        heads: init.config.heads,
        blocks: init.config.blocks,
        condDim: init.config.condDim,
      }
      : {}),
  });
  using params = init
    ? ParamSet.fromHost(gpu, config, init.tensors, init.dir)
    : ParamSet.init(gpu, config, f.seed as number);
  using model = new Dit(gpu, params);
  const data = new BatchIterator(chunks, { batchSize: f.batch as number, seed: f.seed as number });
  using trainer = new Trainer(model, data, {
    batchSize: f.batch as number,
    accumulate: f.accumulate as number,
    lr: f.lr as number,
    warmup: f.warmup as number,
    schedule: f.schedule as "constant" | "cosine",
    totalSteps: f.steps as number,
    gradClip: f["grad-clip"] as number,
    weightDecay: f["weight-decay"] as number,
    ema: f.ema as number,
    seed: f.seed as number,
    maskId: tokenizer.maskId,
    interval,
    resample: Boolean(f.resample),
    blockSizes,
  });
  if (f.resume) {
    const state = await loadIntactCheckpoint(ckptDir, (path, why) => {
      console.error(`warning: skipping unreadable checkpoint ${path}: ${why}`);
    });
    if (state) {
      trainer.restore(state);
      await trimMetrics(metricsPath, state.step);
      if (!quiet) console.error(`resumed from step ${state.step}`);
    } else {
      // Stopped before its first checkpoint: the run's own settings, from step 0.
      if (!quiet) console.error(`no checkpoint in ${ckptDir} yet: starting the run from step 0`);
      await fsOp(metricsPath, "cannot write", () => Deno.writeTextFile(metricsPath, ""));
    }
  } else {
    await fsOp(metricsPath, "cannot write", () => Deno.writeTextFile(metricsPath, ""));
  }
  const meta = {
    tokenizer: f.tokenizer as string,
    maskId: tokenizer.maskId,
    algo,
    data: f.data as string,
    seed: f.seed as number,
    // The adapter of the latest (re)start, which `bd3 convert` records with the model.
    adapter: gpu.info.name,
  };
  // Atomic, as `bd3 convert` reads it back: a kill must not leave half a file.
  await writeFileAtomic(
    join(out, "run.json"),
    new TextEncoder().encode(JSON.stringify({ config, flags: f, meta }, null, 2) + "\n"),
  );
  if (!quiet) {
    console.error(
      `training ${algo} (${(params.count / 1e6).toFixed(2)}M parameters, L=${length}` +
        `${
          algo === "bd3lm" ? `, L′=${blockSize}` : ""
        }) on ${gpu.info.name}; ${chunks.count} chunks`,
    );
  }

  // Ctrl-C and SIGTERM (what SLURM and most schedulers send) both checkpoint, then exit with
  // 128 + the signal's number as shells expect.
  let interrupted: "SIGINT" | "SIGTERM" | null = null;
  const onSigint = () => void (interrupted = "SIGINT");
  const onSigterm = () => void (interrupted = "SIGTERM");
  Deno.addSignalListener("SIGINT", onSigint);
  Deno.addSignalListener("SIGTERM", onSigterm);
  const total = f.steps as number;
  const progress = new Progress("train", total, { quiet });
  const save = async () => {
    await saveTrainingCheckpoint(ckptDir, await trainer.state(meta), { keep: f.keep as number });
  };
  let valLoss: number | null = null;
  // Validation uses the weights `model/` will hold (EMA when on), as the reference evaluates.
  const validate = async (step: number): Promise<number> => {
    const undo = await trainer.swapInEma();
    try {
      const r = await testPerplexity(model, evalBatches(valChunks!, f.batch as number), {
        maskId: tokenizer.maskId,
        seed: step,
        maxBatches: f["eval-batches"] as number,
      });
      const row = { step, valLoss: r.nll, valPpl: r.ppl, valTokens: r.tokens, time: new Date() };
      await fsOp(
        metricsPath,
        "cannot append",
        () => Deno.writeTextFile(metricsPath, JSON.stringify(row) + "\n", { append: true }),
      );
      if (quiet) console.log(JSON.stringify(row));
      return r.nll;
    } finally {
      await undo();
    }
  };
  try {
    while (trainer.step < total && !interrupted) {
      const m = await trainer.trainStep();
      const line = JSON.stringify({ ...m, time: new Date().toISOString() });
      await fsOp(
        metricsPath,
        "cannot append",
        () => Deno.writeTextFile(metricsPath, line + "\n", { append: true }),
      );
      if (quiet) console.log(line);
      // Also at the run's last step, so every finished run ends with a validation loss.
      if (valChunks && valChunks.count > 0 && (m.step % evalEvery === 0 || m.step === total)) {
        valLoss = await validate(m.step);
      }
      progress.update(
        m.step,
        `loss ${m.loss.toFixed(4)}` + (valLoss === null ? "" : `  val ${valLoss.toFixed(4)}`) +
          `  ${fmtRate(m.tokensPerSecond)} tok/s`,
      );
      if (m.step % (f["checkpoint-every"] as number) === 0) await save();
    }
    progress.end();
    await save();
    const undo = await trainer.swapInEma();
    await saveModelDir(join(out, "model"), config, await params.toHost(), {
      ...meta,
      steps: trainer.step,
    });
    await undo();
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
    Deno.removeSignalListener("SIGTERM", onSigterm);
  }
  if (!quiet) {
    console.error(
      `${
        interrupted ? "interrupted: saved" : "done:"
      } step ${trainer.step}; checkpoint in ${ckptDir}, ` +
        `model (EMA weights, Hugging Face layout) in ${join(out, "model")}`,
    );
  }
  return interrupted === "SIGINT" ? 130 : interrupted === "SIGTERM" ? 143 : 0;
}

/**
 * The size in bytes of a data file's text, for the tokenizing bar: a gzip file's trailer
 * states its uncompressed size (modulo 2³², so a smaller value means it wrapped).
 */
async function expectedSize(path: string): Promise<number> {
  const st = await Deno.stat(path).catch(() => null);
  if (!st?.isFile) return 0;
  if (!/\.gz$/i.test(path) || st.size < 18) return st.size;
  try {
    using file = await Deno.open(path);
    await file.seek(-4, Deno.SeekMode.End);
    const tail = new Uint8Array(4);
    if ((await file.read(tail)) !== 4) return st.size;
    const isize = new DataView(tail.buffer).getUint32(0, true);
    return isize >= st.size ? isize : st.size * 4;
  } catch {
    return st.size;
  }
}

function fmtRate(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(1)}k` : v.toFixed(0);
}

/** Runs a file-system operation, turning an OS error into a one-line {@linkcode IoError}. */
async function fsOp<T>(path: string, what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    throw new IoError(`${path}: ${what}: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Drops metric lines past the resumed step (work a killed run lost). The file is replaced
 * atomically: rewriting it in place would lose every line if this run were killed mid-write.
 */
async function trimMetrics(path: string, step: number): Promise<void> {
  let text = "";
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return;
  }
  const keep = text.split("\n").filter((l) => {
    if (!l.trim()) return false;
    try {
      return JSON.parse(l).step <= step;
    } catch {
      return false; // a line cut by the kill
    }
  });
  await writeFileAtomic(path, new TextEncoder().encode(keep.map((l) => l + "\n").join("")));
}
