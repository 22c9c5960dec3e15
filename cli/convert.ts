/**
 * `bd3 convert`: moves models between blockdiff and the Hugging Face BD3-LM layout.
 * - From a training run (its latest checkpoint, EMA weights by default) or a model directory
 *   to a Hugging Face directory that PyTorch code loads (`config.json` + `model.safetensors`).
 * - From a Hugging Face directory (e.g. a downloaded `kuleshov-group/bd3lm-owt-block_size4`)
 *   to a blockdiff model directory, validated key by key, with the tokenizer recorded.
 * @module
 */
import { join } from "node:path";
import type { ModelConfig, TensorMap } from "@blockdiff/model/io";
import {
  latestCheckpointPath,
  loadModelDir,
  loadTrainingCheckpoint,
  META_FILE,
  resolveModelRef,
  saveModelDir,
} from "@blockdiff/model/deno";
import { loadTokenizer, TOKENIZER_NAMES } from "@blockdiff/data";
import { type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";

const FLAGS: Record<string, FlagSpec> = {
  from: {
    type: "string",
    help: "a training run directory, a model directory, or a Hugging Face directory",
  },
  to: { type: "string", help: "output directory (created; files replaced atomically)" },
  weights: { type: "string", help: "from a run: ema or raw training weights", default: "ema" },
  dtype: { type: "string", help: "stored float type: f32, f16 or bf16", default: "f32" },
  compress: {
    type: "boolean",
    help: "store model.safetensors.gz (fflate) instead of the plain file",
  },
  tokenizer: {
    type: "string",
    help: "tokenizer to record for an imported HF model (gpt2, bert, bytes, tokenizer.json)",
  },
  json: { type: "boolean", help: "print a JSON summary" },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 convert`. */
export const CONVERT_HELP = `bd3 convert — export to / import from the Hugging Face BD3-LM layout

Usage: bd3 convert --from <dir> --to <dir> [flags]

${formatFlags(FLAGS)}

Examples:
  bd3 convert --from runs/micro --to exported/micro          # run → HF layout (EMA weights)
  bd3 convert --from ~/hf/bd3lm-owt-block_size4 --to models/bd3lm-bs4 --tokenizer gpt2
  bd3 convert --from models/bd3lm-bs4 --to models/bd3lm-bs4-f16 --dtype f16
  bd3 convert --from runs/bundle --to models/bundled --dtype f16 --compress`;

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
  const ckpt = await latestCheckpointPath(join(from, "checkpoints")).catch(() => null);
  if (ckpt) {
    const state = await loadTrainingCheckpoint(ckpt);
    config = state.config;
    const useEma = flags.weights === "ema" && state.ema;
    tensors = useEma ? state.ema! : state.weights;
    const run = JSON.parse(await Deno.readTextFile(join(from, "run.json")).catch(() => "{}"));
    meta = {
      tokenizer: run.meta?.tokenizer ?? "gpt2",
      maskId: run.meta?.maskId ?? config.vocab - 1,
      steps: state.step,
      weights: useEma ? "ema" : "raw",
    };
    source = `${ckpt} (${useEma ? "EMA" : "raw"} weights, step ${state.step})`;
  } else {
    const m = await loadModelDir(await resolveModelRef(from));
    config = m.config;
    tensors = m.tensors;
    meta = { ...m.meta };
    if (flags.tokenizer) {
      const tok = await loadTokenizer(flags.tokenizer as string);
      if (tok.vocabSize !== config.vocab) {
        throw new UsageError(
          `bd3 convert: tokenizer ${flags.tokenizer} has ${tok.vocabSize} ids but the model's vocabulary is ${config.vocab}`,
        );
      }
      meta = { ...meta, tokenizer: flags.tokenizer as string, maskId: tok.maskId };
    }
    if (!flags.tokenizer && !(await hasMetaFile(m.dir))) {
      // A Hugging Face directory says nothing of its tokenizer: infer it from the vocabulary.
      const name = await tokenizerForVocab(config.vocab);
      const tok = await loadTokenizer(name);
      meta = { ...meta, tokenizer: name, maskId: tok.maskId };
    }
    source = m.dir;
  }
  await saveModelDir(to, config, tensors, meta, {
    floatDtype: dtype,
    compress: Boolean(flags.compress),
  });
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
