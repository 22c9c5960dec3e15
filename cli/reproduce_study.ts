/**
 * The study `bd3 reproduce` runs, on the embedded corpus: it trains AR, SEDD, MDLM and BD3-LM
 * (L′ = 16, 8, 4) under one budget, evaluates test perplexity (AR exact, diffusion as NELBO
 * bounds), the clipped-schedule study (NELBO variance and PPL for U[0,1] and clipped windows
 * at L′ = 4 and 16), generation-length statistics, coherence (generative PPL under the trained
 * AR model) against speed, and the bundled model. It returns plain `StudyResults`; the same
 * seed reproduces them.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { type Algo, modelConfig } from "@blockdiff/model/io";
import { loadModelDir } from "@blockdiff/model/deno";
import { BatchIterator, type ChunkSet, loadTokenizer, type Tokenizer } from "@blockdiff/data";
import { loadChunks } from "@blockdiff/data/deno";
import { Dit, newGraph, ParamSet } from "@blockdiff/model";
import { objectiveLoss, Trainer } from "@blockdiff/train";
import { generate } from "@blockdiff/sampling";
import {
  DitScorer,
  evalBatches,
  generativePerplexity,
  sampleStats,
  testPerplexity,
} from "@blockdiff/eval";
import { unbiasedVariance } from "@blockdiff/schedules";
import { Progress } from "./progress.ts";
import {
  type BundledResult,
  type ClipResult,
  type GenerationResult,
  type Profile,
  RESULTS_FORMAT,
  type RunResult,
  type StudyResults,
} from "./reproduce_results.ts";

export type { Profile } from "./reproduce_results.ts";

/** The profiles: `cpu` fits a 2-core machine with a software driver in about an hour. */
export const PROFILES: Record<string, Profile> = {
  "paper-small": {
    name: "paper-small",
    tokenizer: "gpt2",
    size: "tiny",
    model: {},
    length: 128,
    trainSamples: 500,
    evalSamples: 100,
    steps: 800,
    batch: 16,
    lr: 3e-4,
    warmup: 100,
    genSamples: 16,
    genLength: 512,
    clipBatches: 20,
  },
  cpu: {
    name: "cpu",
    tokenizer: "bytes",
    size: "micro",
    model: { hidden: 64, heads: 4, blocks: 2, condDim: 32 },
    length: 128,
    trainSamples: 500,
    evalSamples: 100,
    steps: 300,
    batch: 8,
    lr: 1e-3,
    warmup: 30,
    genSamples: 8,
    genLength: 256,
    clipBatches: 8,
  },
  quick: {
    name: "quick",
    tokenizer: "bytes",
    size: "micro",
    model: { hidden: 32, heads: 2, blocks: 1, condDim: 16 },
    length: 64,
    trainSamples: 64,
    evalSamples: 16,
    steps: 12,
    batch: 4,
    lr: 1e-3,
    warmup: 4,
    genSamples: 2,
    genLength: 96,
    clipBatches: 2,
  },
};

/** A run's results plus the trained model (the clip and generation studies use it). */
interface TrainedRun extends RunResult {
  model: Dit;
  params: ParamSet;
}

/** Selects `count` chunks deterministically (the first ones of a seeded permutation). */
function subset(chunks: ChunkSet, count: number): ChunkSet {
  const n = Math.min(count, chunks.count);
  return { ...chunks, data: chunks.data.slice(0, n * chunks.length), count: n };
}

async function trainOne(
  gpu: Gpu,
  p: Profile,
  tok: Tokenizer,
  train: ChunkSet,
  test: ChunkSet,
  valid: ChunkSet,
  algo: Algo,
  blockSize: number,
  seed: number,
  interval: { min: number; max: number } | undefined,
  label: string,
): Promise<TrainedRun> {
  const config = modelConfig({
    size: p.size,
    ...p.model,
    algo,
    vocab: tok.vocabSize,
    length: p.length,
    blockSize,
    dropout: 0,
  });
  const params = ParamSet.init(gpu, config, seed);
  const model = new Dit(gpu, params);
  const data = new BatchIterator(train, { batchSize: p.batch, seed });
  const trainer = new Trainer(model, data, {
    batchSize: p.batch,
    maskId: tok.maskId,
    lr: p.lr,
    warmup: p.warmup,
    seed,
    ema: 0.99,
    interval,
    resample: Boolean(interval),
  });
  const curve: [number, number][] = [];
  const valCurve: [number, number][] = [];
  const every = Math.max(1, Math.floor(p.steps / 5));
  const progress = new Progress(`train ${label}`, p.steps);
  let tokens = 0;
  const t0 = performance.now();
  for (let s = 0; s < p.steps; s++) {
    const m = await trainer.trainStep();
    curve.push([m.step, m.loss]);
    tokens += m.tokens;
    progress.update(m.step, `loss ${m.loss.toFixed(3)}`);
    if (m.step % every === 0) {
      // Validation with the current (not EMA) weights on a few batches: the curve's shape.
      const v = await testPerplexity(model, evalBatches(valid, p.batch), {
        maskId: tok.maskId,
        seed: seed + 3,
        maxBatches: 2,
      });
      valCurve.push([m.step, v.ppl]);
    }
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  await trainer.swapInEma(); // evaluate and sample with the EMA weights, as the reference
  trainer.dispose();
  const r = await testPerplexity(model, evalBatches(test, p.batch), {
    maskId: tok.maskId,
    seed: seed + 1,
  });
  return {
    label,
    algo,
    blockSize,
    curve,
    valCurve,
    ppl: r.ppl,
    bound: r.bound,
    trainSeconds,
    tokensPerSecond: tokens / trainSeconds,
    model,
    params,
  };
}

/**
 * NELBO estimate variance of a trained model under a clip window (per batch; docs/design.md, "Clip
 * search").
 */
async function nelboVariance(
  model: Dit,
  test: ChunkSet,
  p: Profile,
  maskId: number,
  interval: { min: number; max: number },
  seed: number,
): Promise<{ variance: number; mean: number }> {
  let vSum = 0, n = 0, total = 0, count = 0;
  let step = 0;
  for (const b of evalBatches(test, p.batch)) {
    if (n >= p.clipBatches) break;
    using g = newGraph(model.gpu);
    const r = objectiveLoss(g, model, b, { maskId, seed, step: step++, eval: true, interval });
    const per = await r.perToken.readFloat();
    // nlls as the reference records them: per-token weighted loss (1/t · −log p, 0 if visible),
    // averaged over each block.
    const starts = r.blockStarts, L = b.length;
    const blockMeans: number[] = [];
    for (let row = 0; row < b.batch; row++) {
      for (let j = 0; j < starts.length; j++) {
        const end = j + 1 < starts.length ? starts[j + 1] : L;
        let s = 0;
        for (let i = starts[j]; i < end; i++) {
          const k = row * L + i;
          s += per[k] * r.weights[k] * r.tokens;
        }
        blockMeans.push(s / (end - starts[j]));
      }
    }
    vSum += unbiasedVariance(blockMeans);
    total += blockMeans.reduce((a, c) => a + c, 0);
    count += blockMeans.length;
    n++;
  }
  return { variance: vSum / Math.max(1, n), mean: total / Math.max(1, count) };
}

/** The bundled model (models/bundled) on the same held-out split, or null when absent. */
async function evalBundled(gpu: Gpu, p: Profile, seed: number): Promise<BundledResult | null> {
  const bundled = await loadModelDir("models/bundled").catch(() => null);
  if (!bundled) return null;
  const btok = await loadTokenizer(bundled.meta.tokenizer);
  const bTest = subset(
    await loadChunks({ kind: "brown" }, {
      tokenizer: btok,
      length: bundled.config.length,
      split: "test",
    }),
    p.evalSamples,
  );
  using bParams = ParamSet.fromHost(gpu, bundled.config, bundled.tensors);
  using bModel = new Dit(gpu, bParams);
  const r = await testPerplexity(bModel, evalBatches(bTest, p.batch), {
    maskId: btok.maskId,
    seed: seed + 1,
  });
  const c = bundled.config;
  return {
    algo: c.algo,
    hidden: c.hidden,
    blocks: c.blocks,
    heads: c.heads,
    condDim: c.condDim,
    length: c.length,
    blockSize: c.blockSize,
    tokenizer: btok.name,
    steps: String(bundled.meta.steps ?? "?"),
    testChunks: bTest.count,
    ppl: r.ppl,
    nll: r.nll,
    bound: r.bound,
  };
}

/** Options of `runStudy`. */
export interface StudyOptions {
  /** `performance.now()` when the command started (the report's minutes count from it). */
  startedAt?: number;
}

/** Runs the study of profile `p` on `gpu` with `seed`; progress goes to stderr. */
export async function runStudy(
  gpu: Gpu,
  p: Profile,
  seed: number,
  opts: StudyOptions = {},
): Promise<StudyResults> {
  const started = opts.startedAt ?? performance.now();
  const tok = await loadTokenizer(p.tokenizer);
  console.error(`reproduce (${p.name} profile) on ${gpu.info.name}`);
  const train = subset(
    await loadChunks({ kind: "brown" }, { tokenizer: tok, length: p.length, split: "train" }),
    p.trainSamples,
  );
  const test = subset(
    await loadChunks({ kind: "brown" }, { tokenizer: tok, length: p.length, split: "test" }),
    p.evalSamples,
  );
  const valid = subset(
    await loadChunks({ kind: "brown" }, { tokenizer: tok, length: p.length, split: "validation" }),
    4 * p.batch,
  );

  // 1. The six runs of the perplexity table.
  const specs: [string, Algo, number][] = [
    ["AR", "ar", p.length],
    ["SEDD", "sedd", p.length],
    ["MDLM", "mdlm", p.length],
    ["BD3-LM L′=16", "bd3lm", 16],
    ["BD3-LM L′=8", "bd3lm", 8],
    ["BD3-LM L′=4", "bd3lm", 4],
  ];
  const runs: TrainedRun[] = [];
  try {
    for (const [label, algo, b] of specs) {
      runs.push(await trainOne(gpu, p, tok, train, test, valid, algo, b, seed, undefined, label));
    }

    // 2. The clipped-schedule study at L′ = 4 and 16.
    const windows = [
      { name: "U[0, 1]", interval: { min: 1e-3, max: 1 } },
      { name: "U[0.3, 0.8]", interval: { min: 0.3, max: 0.8 } },
      { name: "U[0.45, 0.95]", interval: { min: 0.45, max: 0.95 } },
    ];
    const clip: ClipResult[] = [];
    for (const b of [4, 16]) {
      for (const w of windows) {
        const run = w.interval.min === 1e-3
          ? runs.find((r) => r.algo === "bd3lm" && r.blockSize === b)!
          : await trainOne(
            gpu,
            p,
            tok,
            train,
            test,
            valid,
            "bd3lm",
            b,
            seed,
            w.interval,
            `L′=${b} ${w.name}`,
          );
        const v = await nelboVariance(run.model, test, p, tok.maskId, w.interval, seed + 2);
        clip.push({ blockSize: b, window: w.name, variance: v.variance, ppl: run.ppl });
        if (w.interval.min !== 1e-3) {
          run.model.dispose();
          run.params.dispose();
        }
      }
    }

    // 3. Generation: lengths, coherence (gen PPL under our AR model) and speed per block size.
    const ar = runs.find((r) => r.algo === "ar")!;
    const scorer = new DitScorer(ar.model, { eosId: tok.eosId, maskId: tok.maskId });
    const generation: GenerationResult[] = [];
    for (const r of runs) {
      const samples: number[][] = [];
      const timing: { nfe: number; seconds: number }[] = [];
      for (let i = 0; i < p.genSamples; i++) {
        const out = await generate(r.model, tok, {
          seed: seed + 100 + i,
          length: r.algo === "mdlm" || r.algo === "sedd" ? p.length : p.genLength,
          sampler: "first-hitting",
          topP: 0.9,
          entropyStop: false,
          stopAtEos: true,
        });
        samples.push(out.ids[0].slice(out.prefixLength));
        timing.push({ nfe: out.nfe, seconds: out.seconds });
      }
      const stats = sampleStats(samples, timing);
      const gp = await generativePerplexity(scorer, samples);
      generation.push({
        label: r.label,
        lengthMedian: stats.lengthMedian,
        lengthMax: stats.lengthMax,
        genPpl: gp.genPpl,
        entropy: stats.entropy,
        nfe: stats.nfe,
        tokensPerSecond: stats.tokensPerSecond,
      });
    }

    // 4. The bundled model, evaluated on the same held-out split.
    const bundled = await evalBundled(gpu, p, seed);
    const c = runs[0].model.config;
    return {
      format: RESULTS_FORMAT,
      profile: p,
      seed,
      adapter: { name: gpu.info.name, isSoftware: gpu.info.isSoftware },
      minutes: (performance.now() - started) / 60000,
      data: { trainChunks: train.count, testChunks: test.count },
      tokenizer: { name: tok.name, vocabSize: tok.vocabSize },
      model: { hidden: c.hidden, blocks: c.blocks, heads: c.heads, condDim: c.condDim },
      runs: runs.map(({ model: _m, params: _p, ...result }) => result),
      clip,
      generation,
      bundled,
    };
  } finally {
    for (const r of runs) {
      r.model.dispose();
      r.params.dispose();
    }
  }
}
