/**
 * `bd3 eval`: the evaluations (docs/design.md, "Evaluation") on a model directory (its EMA
 * weights): test perplexity (the NELBO bound for diffusion models, exact for AR), zero-shot
 * perplexity on another source, generative perplexity of N samples under an AR scorer, sample
 * entropy, lengths, NFE and throughput, and the fixed-vs-adaptive block-size comparison with its
 * SVG. Prints a readable table; `--json` / `--out` give the same results as JSON.
 * @module
 */
import { acquireTunedGpu } from "./gpu.ts";
import { writeFileAtomic } from "@blockdiff/model/deno";
import type { ChunkSet, Split } from "@blockdiff/data";
import { loadChunks } from "@blockdiff/data/deno";
import type { TokenBatch } from "@blockdiff/train";
import {
  compareBlockPolicies,
  DitScorer,
  evalBatches,
  formatTable,
  generativePerplexity,
  parseWordList,
  type PerplexityResult,
  type PolicyRow,
  type SampleStats,
  sampleStats,
  testPerplexity,
  type WordList,
  type WordStats,
  wordStats,
} from "@blockdiff/eval";
import { generate } from "@blockdiff/sampling";
import type { Dit } from "@blockdiff/model";
import { applyConfigFile, type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";
import { DATA_FLAGS, dataSource } from "./data_flags.ts";
import { parseList } from "./parse.ts";
import { checkWeights, fmtRate, type LoadedModel, modelArg, readModel, toGpu } from "./model.ts";
import { checkLength, SAMPLING_FLAGS, samplingOptions } from "./sample.ts";
import { Progress } from "./progress.ts";

const FLAGS: Record<string, FlagSpec> = {
  model: {
    type: "string",
    help: "model directory, training run or Hub id org/name[@revision] (default: models/bundled)",
  },
  ...DATA_FLAGS,
  split: {
    type: "string",
    help: "split of --data",
    default: "test",
    choices: ["test", "validation"],
  },
  batches: {
    type: "number",
    help: "perplexity batches to evaluate (0: all)",
    default: 8,
    integer: true,
    min: 0,
  },
  batch: {
    type: "number",
    help: "sequences per perplexity batch",
    default: 8,
    integer: true,
    min: 1,
  },
  "zero-shot": {
    type: "string",
    help: "also the perplexity on this source (brown or a file; all of it, up to --batches)",
  },
  samples: {
    type: "number",
    help: "samples for generative PPL and sample statistics (0: none)",
    default: 4,
  },
  length: { type: "number", help: "tokens per sample incl. BOS (default: the model length)" },
  scorer: { type: "string", help: "AR model directory scoring the samples (generative PPL)" },
  words: {
    type: "string",
    help: "word list (e.g. /usr/share/dict/words): share of the samples' words found in it",
  },
  ...SAMPLING_FLAGS,
  "compare-block-policies": {
    type: "boolean",
    help: "BD3-LM: quality vs NFE for fixed block sizes and the adaptive policy",
  },
  sizes: { type: "string", help: "block sizes compared (fixed and adaptive)", default: "4,8,16" },
  plot: { type: "string", help: "write the comparison's SVG plot here" },
  seed: {
    type: "number",
    help: "seed of the noise draws and of sample i (seed + i)",
    default: 0,
    integer: true,
    min: 0,
    max: 0xffffffff,
  },
  json: { type: "boolean", help: "print the results as JSON instead of tables" },
  out: { type: "string", help: "also write the results as JSON to this file" },
  config: { type: "string", help: "JSON file with any of these flags (flags given here win)" },
  adapter: { type: "string", help: "adapter: lavapipe, swiftshader or part of a GPU's name" },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 eval`. */
export const EVAL_HELP = `bd3 eval — perplexities, sample quality and the block-size comparison

Usage: bd3 eval [--model <dir>] [flags]

${formatFlags(FLAGS)}

Diffusion models report "≤ PPL": the NELBO is an upper bound on the negative log-likelihood.

Examples:
  bd3 eval --model runs/micro
  bd3 eval --model runs/micro --batches 0 --zero-shot wiki.txt --out results.json
  bd3 eval --model runs/owt --data owt.parquet --split validation --samples 16 --scorer runs/ar
  bd3 eval --model runs/micro --compare-block-policies --sizes 4,8,16 --plot policies.svg`;

/** Sample statistics with the generative perplexity (null without a scorer). */
interface SamplingResult extends SampleStats {
  genPpl: number | null;
  meanSamplePpl: number | null;
  scorer: string | null;
  length: number;
  /** With --words: the English-word measures of the decoded continuations. */
  words: (WordStats & { list: string }) | null;
}

/** Reads a --words list, with the package that provides the usual one in the error. */
async function readWordList(path: string): Promise<WordList> {
  try {
    return parseWordList(await Deno.readTextFile(path));
  } catch (e) {
    throw new UsageError(
      `bd3 eval: cannot read the word list ${path} (${(e as Error).message.split("\n")[0]}); ` +
        "on Debian/Ubuntu `apt install wamerican` provides /usr/share/dict/words",
    );
  }
}

/** Batches of a chunk set that tick a progress bar as they are consumed. */
function* counted(
  chunks: ChunkSet,
  batch: number,
  limit: number,
  progress: Progress,
): Generator<TokenBatch> {
  let n = 0;
  for (const b of evalBatches(chunks, batch)) {
    if (n >= limit) return;
    yield b;
    progress.update(++n);
  }
}

async function perplexity(
  model: Dit,
  maskId: number,
  chunks: ChunkSet,
  opts: { batch: number; batches: number; seed: number; label: string; quiet: boolean },
): Promise<PerplexityResult> {
  const all = Math.ceil(chunks.count / opts.batch);
  const limit = opts.batches > 0 ? Math.min(opts.batches, all) : all;
  const progress = new Progress(opts.label, limit, { quiet: opts.quiet });
  const r = await testPerplexity(model, counted(chunks, opts.batch, limit, progress), {
    maskId,
    seed: opts.seed,
  });
  progress.end();
  return r;
}

function pplText(r: PerplexityResult): string {
  return `${r.bound ? "≤ " : ""}${r.ppl.toFixed(2)}  (${r.nll.toFixed(4)} nats/token, ` +
    `${r.tokens} tokens)`;
}

/** Runs `bd3 eval`. */
export async function runEval(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv, FLAGS, "eval");
  if (parsed.flags.help) {
    console.log(EVAL_HELP);
    return 0;
  }
  if (parsed.flags.config) {
    await applyConfigFile(parsed, FLAGS, parsed.flags.config as string, "eval");
  }
  const f = parsed.flags;
  const err = (m: string) => new UsageError(`bd3 eval: ${m}`);
  const split = f.split as Split;
  if (split !== "test" && split !== "validation") {
    throw err(`--split must be test or validation, got '${split}'`);
  }
  for (const k of ["batches", "samples"]) {
    const v = f[k] as number;
    if (!Number.isInteger(v) || v < 0) throw err(`--${k} must be an integer ≥ 0, got ${v}`);
  }
  const batch = f.batch as number;
  if (!Number.isInteger(batch) || batch < 1) {
    throw err(`--batch must be a positive integer, got ${batch}`);
  }
  const seed = f.seed as number;
  if (!Number.isInteger(seed) || seed < 0) throw err(`--seed must be an integer ≥ 0, got ${seed}`);
  const sizes = parseList(f.sizes as string, "sizes", "eval");
  const wordListPath = f.words as string | undefined;
  if (wordListPath && !(f.samples as number)) throw err("--words needs --samples ≥ 1");
  const wordList = wordListPath ? await readWordList(wordListPath) : null;
  if (f.plot && !f["compare-block-policies"]) throw err(`--plot needs --compare-block-policies`);

  const host = await readModel(await modelArg(f.model, "eval"));
  const { config } = host.dir;
  const tok = host.tokenizer;
  const gen = samplingOptions(f, config, "eval", parsed.given);
  const length = (f.length as number | undefined) ?? config.length;
  checkLength(length, config, 1, "eval");
  if (f["compare-block-policies"]) {
    if (config.algo !== "bd3lm") {
      throw err(`--compare-block-policies is for BD3-LM models; this one is ${config.algo}`);
    }
    for (const b of sizes) {
      if (gen.window! % b !== 0) {
        throw err(`--sizes: block size ${b} must divide the context window of ${gen.window}`);
      }
    }
  }
  const scorerHost = f.scorer ? await readModel(f.scorer as string) : null;
  if (scorerHost && scorerHost.dir.config.algo !== "ar") {
    throw err(
      `--scorer must be an AR model (bd3 train --algo ar); ${scorerHost.dir.dir} is ` +
        scorerHost.dir.config.algo,
    );
  }
  const quiet = Boolean(f.json);
  const note = (s: string) => {
    if (!quiet) console.error(s);
  };
  const dataName = f.data as string;
  note(`tokenizing ${dataName === "brown" ? "the embedded Brown corpus" : dataName} (${split})…`);
  const chunks = await loadChunks(await dataSource(dataName, f["text-field"] as string), {
    tokenizer: tok,
    length: config.length,
    split,
  });
  if (chunks.count === 0) {
    throw err(`the ${split} split of ${dataName} has no full ${config.length}-token chunk`);
  }
  const zeroName = f["zero-shot"] as string | undefined;
  const zeroChunks = zeroName
    ? await loadChunks(await dataSource(zeroName, f["text-field"] as string), {
      tokenizer: tok,
      length: config.length,
    })
    : null;
  if (zeroChunks && zeroChunks.count === 0) {
    throw err(`--zero-shot ${zeroName} has no full ${config.length}-token chunk`);
  }

  using session = await acquireTunedGpu(f.adapter as string | undefined);
  using loaded = toGpu(session.gpu, host);
  using scorerModel = scorerHost ? toGpu(session.gpu, scorerHost) : null;
  const loadCheck = await checkWeights(loaded);
  note(`evaluating ${config.algo} from ${host.dir.dir} on ${session.gpu.info.name}`);
  const pplOpts = { batch, batches: f.batches as number, seed, quiet };
  const test = await perplexity(loaded.model, tok.maskId, chunks, {
    ...pplOpts,
    label: `test PPL (${dataName} ${split})`,
  });
  const zeroShot = zeroChunks
    ? await perplexity(loaded.model, tok.maskId, zeroChunks, {
      ...pplOpts,
      label: `zero-shot PPL (${zeroName})`,
    })
    : null;

  const scorer = scorerModel ? makeScorer(scorerModel, host.dir.meta.tokenizer) : undefined;
  const samples = f.samples as number;
  let sampling: SamplingResult | null = null;
  if (samples > 0) {
    const progress = new Progress("sampling", samples, { quiet });
    const ids: number[][] = [], generated: number[][] = [];
    const runs: { nfe: number; seconds: number }[] = [];
    for (let i = 0; i < samples; i++) {
      const out = await generate(loaded.model, tok, { ...gen, batch: 1, length, seed: seed + i });
      ids.push(out.ids[0]);
      generated.push(out.ids[0].slice(out.prefixLength));
      runs.push({ nfe: out.nfe, seconds: out.seconds });
      progress.update(i + 1, `NFE ${out.nfe}`);
    }
    progress.end();
    const stats = sampleStats(generated, runs);
    const ppl = scorer
      ? await generativePerplexity(scorer, ids, (x) => tok.decode(Array.from(x)))
      : null;
    sampling = {
      ...stats,
      genPpl: ppl?.genPpl ?? null,
      meanSamplePpl: ppl?.meanSamplePpl ?? null,
      scorer: scorerHost?.dir.dir ?? null,
      length,
      words: wordList
        ? {
          list: wordListPath!,
          ...wordStats(generated.map((g) => tok.decode(g, { skipSpecial: true })), wordList),
        }
        : null,
    };
  }

  let policies: PolicyRow[] | null = null;
  if (f["compare-block-policies"]) {
    note(`comparing block-size policies (${sizes.join(", ")} and adaptive)…`);
    const { blockSize: _ignored, ...rest } = gen;
    const cmp = await compareBlockPolicies(loaded.model, tok, {
      ...rest,
      length,
      fixedSizes: sizes,
      samples: Math.max(samples, 1),
      seed,
      scorer,
    });
    policies = cmp.rows;
    if (f.plot) {
      await writeFileAtomic(f.plot as string, new TextEncoder().encode(cmp.svg));
      note(`wrote ${f.plot}`);
    }
  }

  const results = {
    model: host.dir.dir,
    algo: config.algo,
    blockSize: config.blockSize,
    data: dataName,
    split,
    loadCheck,
    test,
    zeroShot: zeroShot ? { data: zeroName, ...zeroShot } : null,
    sampling,
    policies,
  };
  const json = JSON.stringify(results, null, 2);
  if (f.out) {
    await writeFileAtomic(f.out as string, new TextEncoder().encode(json + "\n"));
    note(`wrote ${f.out}`);
  }
  if (f.json) {
    console.log(json);
    return 0;
  }
  const rows: { metric: string; value: string }[] = [
    { metric: `test PPL (${dataName} ${split}, ${test.sequences} seqs)`, value: pplText(test) },
  ];
  if (zeroShot) rows.push({ metric: `zero-shot PPL (${zeroName})`, value: pplText(zeroShot) });
  if (sampling) {
    const s = sampling;
    rows.push(
      {
        metric: `generative PPL (${samples} samples)`,
        value: s.genPpl === null ? "– (give --scorer <AR model>)" : s.genPpl.toFixed(2),
      },
      { metric: "sample entropy (nats)", value: s.entropy.toFixed(3) },
      { metric: "NFE per sample", value: s.nfe.toFixed(1) },
      { metric: "tokens/s", value: fmtRate(s.tokensPerSecond) },
      { metric: "length median / max", value: `${s.lengthMedian} / ${s.lengthMax}` },
    );
    if (s.words) {
      rows.push(
        {
          metric: `words found in ${s.words.list}`,
          value: `${(100 * s.words.knownShare).toFixed(1)} % of ${s.words.words}`,
        },
        { metric: "distinct / total words per sample", value: s.words.distinctRatio.toFixed(3) },
      );
    }
  }
  console.log(formatTable(rows, [{ key: "metric" }, { key: "value" }]));
  if (policies) {
    console.log("");
    console.log(
      formatTable(policies, [
        "policy",
        { key: "nfe", label: "NFE", digits: 1 },
        { key: "nfePerToken", label: "NFE/token", digits: 3 },
        { key: "meanBlockSize", label: "mean b", digits: 2 },
        { key: "genPpl", label: "gen PPL", digits: 2 },
        { key: "entropy", digits: 3 },
        { key: "lengthMedian", label: "median len", digits: 1 },
        { key: "tokensPerSecond", label: "tok/s", digits: 1 },
      ]),
    );
  }
  return 0;
}

/** An AR scorer; samples are retokenized when its tokenizer differs from the generator's. */
function makeScorer(s: LoadedModel, generatorTokenizer: string): DitScorer {
  return new DitScorer(s.model, {
    eosId: s.tokenizer.eosId,
    maskId: s.dir.meta.maskId,
    tokenizer: s.dir.meta.tokenizer === generatorTokenizer ? undefined : s.tokenizer,
  });
}
