/**
 * `bd3 train`: trains AR, MDLM, SEDD or BD3-LM on the embedded corpus or a local file, with
 * checkpoints every N steps (atomic), exact resume, JSON-lines metrics, a final Hugging
 * Face-layout export of the EMA weights, and Ctrl-C that saves before exiting.
 * @module
 */
import { join } from "node:path";
import { acquireTunedGpu } from "./gpu.ts";
import {
  type Algo,
  IoError,
  loadLatestCheckpoint,
  loadModelDir,
  modelConfig,
  saveModelDir,
  saveTrainingCheckpoint,
  writeFileAtomic,
} from "@blockdiff/model/io";
import {
  BatchIterator,
  brownIds,
  loadChunks,
  loadTokenizer,
  type Source,
  splitOf,
} from "@blockdiff/data";
import { Dit, ParamSet } from "@blockdiff/model";
import { Trainer } from "@blockdiff/train";
import { applyConfigFile, type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";
import { DATA_FLAGS } from "./data_flags.ts";
import { Progress } from "./progress.ts";
import { parseClip, parseList } from "./parse.ts";

const FLAGS: Record<string, FlagSpec> = {
  ...DATA_FLAGS,
  tokenizer: {
    type: "string",
    help: "gpt2, bert, bytes or a tokenizer.json path",
    default: "gpt2",
  },
  algo: { type: "string", help: "bd3lm, mdlm, sedd or ar", default: "bd3lm" },
  size: { type: "string", help: "model size: micro, tiny, small, medium", default: "tiny" },
  hidden: { type: "number", help: "override the hidden width" },
  blocks: { type: "number", help: "override the number of transformer blocks" },
  heads: { type: "number", help: "override the number of attention heads" },
  length: { type: "number", help: "context length L", default: 128 },
  "block-size": { type: "number", help: "block size L′ (bd3lm; must divide --length)", default: 4 },
  "block-sizes": {
    type: "string",
    help: "adaptive block size training: sizes to draw, e.g. 4,8,16",
  },
  batch: { type: "number", help: "sequences per micro-batch", default: 8 },
  accumulate: { type: "number", help: "micro-batches per optimizer step", default: 1 },
  steps: {
    type: "number",
    help: "optimizer steps to train (in total, counting resumed ones)",
    default: 1000,
  },
  lr: { type: "number", help: "peak learning rate", default: 3e-4 },
  warmup: { type: "number", help: "warm-up steps", default: 100 },
  schedule: { type: "string", help: "LR schedule: constant or cosine", default: "constant" },
  clip: { type: "string", help: "clipped noise interval β,ω (e.g. 0.3,0.8); default 0.001,1" },
  resample: { type: "boolean", help: "redraw masks of blocks outside the clip interval" },
  "grad-clip": { type: "number", help: "maximum gradient norm (0: off)", default: 1 },
  "weight-decay": { type: "number", help: "AdamW weight decay", default: 0 },
  ema: { type: "number", help: "EMA decay (0: no EMA)", default: 0.9999 },
  dropout: { type: "number", help: "dropout probability", default: 0.1 },
  seed: { type: "number", help: "seed of initialisation, noise and data order", default: 1 },
  init: {
    type: "string",
    help: "start from this model directory (e.g. an MDLM for BD3-LM fine-tuning)",
  },
  out: {
    type: "string",
    help: "run directory (checkpoints, metrics.jsonl, model/)",
    default: "runs/default",
  },
  "checkpoint-every": { type: "number", help: "steps between checkpoints", default: 100 },
  keep: { type: "number", help: "checkpoints to keep", default: 3 },
  resume: { type: "boolean", help: "continue from the run directory's latest checkpoint" },
  config: { type: "string", help: "JSON file with any of these flags (flags given here win)" },
  adapter: { type: "string", help: "adapter: lavapipe, swiftshader or part of a GPU's name" },
  json: { type: "boolean", help: "print one JSON line per step instead of a progress bar" },
  help: { type: "boolean", help: "show this help" },
};

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
  const f = parsed.flags;
  const algo = f.algo as Algo;
  if (!["bd3lm", "mdlm", "sedd", "ar"].includes(algo)) {
    throw new UsageError(`bd3 train: --algo must be bd3lm, mdlm, sedd or ar, got '${algo}'`);
  }
  const length = f.length as number;
  const blockSize = algo === "bd3lm" ? f["block-size"] as number : length;
  if (!Number.isInteger(length) || length < 2) {
    throw new UsageError(`bd3 train: --length must be an integer ≥ 2`);
  }
  if (!Number.isInteger(blockSize) || blockSize < 1 || length % blockSize !== 0) {
    throw new UsageError(`bd3 train: --block-size ${blockSize} must divide --length ${length}`);
  }
  for (const k of ["batch", "accumulate", "steps", "checkpoint-every", "keep"]) {
    const v = f[k] as number;
    if (!Number.isInteger(v) || v < 1) {
      throw new UsageError(`bd3 train: --${k} must be a positive integer, got ${v}`);
    }
  }
  const dropout = f.dropout as number;
  if (!(dropout >= 0 && dropout < 1)) {
    throw new UsageError(`bd3 train: --dropout must be in [0, 1), got ${dropout}`);
  }
  if (!["constant", "cosine"].includes(f.schedule as string)) {
    throw new UsageError(`bd3 train: --schedule must be constant or cosine`);
  }
  const interval = f.clip ? parseClip(f.clip as string, "train") : undefined;
  const blockSizes = f["block-sizes"]
    ? parseList(f["block-sizes"] as string, "block-sizes", "train")
    : undefined;
  if (blockSizes && algo !== "bd3lm") {
    throw new UsageError("bd3 train: --block-sizes is for --algo bd3lm");
  }
  const out = f.out as string;
  const quiet = Boolean(f.json);
  const ckptDir = join(out, "checkpoints");
  const metricsPath = join(out, "metrics.jsonl");
  // Before tokenizing and acquiring the GPU: an unusable --out should fail in a second.
  await fsOp(
    ckptDir,
    "cannot create the run directory",
    () => Deno.mkdir(ckptDir, { recursive: true }),
  );

  const tokenizer = await loadTokenizer(f.tokenizer as string);
  const source: Source = f.data === "brown"
    ? { kind: "brown" }
    : { kind: "file", path: f.data as string, textField: f["text-field"] as string };
  if (!quiet) {
    console.error(
      `tokenizing ${
        f.data === "brown" ? "the embedded Brown corpus" : f.data
      } with ${tokenizer.name}…`,
    );
  }
  // Tokenizing runs only when the cache misses; the bar tracks documents (Brown) or bytes.
  const sourceSize = source.kind === "file"
    ? (await Deno.stat(source.path).catch(() => null))?.size ?? 0
    : (await brownIds()).filter((id) => splitOf(id) === "train").length;
  const tokenizing = new Progress("tokenizing", Math.max(1, sourceSize), { quiet });
  let tokenized = false;
  const chunks = await loadChunks(source, {
    tokenizer,
    length,
    split: "train",
    onProgress: ({ documents, characters }) => {
      tokenized = true;
      tokenizing.update(source.kind === "file" ? characters : documents, `${documents} documents`);
    },
  });
  if (tokenized) tokenizing.end();
  if (chunks.count < (f.batch as number)) {
    throw new UsageError(
      `bd3 train: the training split has ${chunks.count} chunks of ${length} tokens, fewer than --batch ${f.batch}`,
    );
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
    const state = await loadLatestCheckpoint(ckptDir);
    if (!state) throw new UsageError(`bd3 train --resume: no checkpoint in ${ckptDir}`);
    trainer.restore(state);
    await trimMetrics(metricsPath, state.step);
    if (!quiet) console.error(`resumed from step ${state.step}`);
  } else {
    await fsOp(metricsPath, "cannot write", () => Deno.writeTextFile(metricsPath, ""));
  }
  const meta = {
    tokenizer: f.tokenizer as string,
    maskId: tokenizer.maskId,
    algo,
    data: f.data as string,
    seed: f.seed as number,
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

  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  Deno.addSignalListener("SIGINT", onSigint);
  const total = f.steps as number;
  const progress = new Progress("train", total, { quiet });
  const save = async () => {
    await saveTrainingCheckpoint(ckptDir, await trainer.state(meta), { keep: f.keep as number });
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
      progress.update(m.step, `loss ${m.loss.toFixed(4)}  ${fmtRate(m.tokensPerSecond)} tok/s`);
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
  }
  if (!quiet) {
    console.error(
      `${
        interrupted ? "interrupted: saved" : "done:"
      } step ${trainer.step}; checkpoint in ${ckptDir}, ` +
        `model (EMA weights, Hugging Face layout) in ${join(out, "model")}`,
    );
  }
  return interrupted ? 130 : 0;
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
