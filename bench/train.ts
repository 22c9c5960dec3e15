/**
 * Training throughput: ms per optimizer step and tokens/s for each algorithm at the `micro`
 * and `tiny` sizes, L = 128 and 1024, on random tokens; and the speed of the vectorized 2L
 * forward against the naive two-pass forward (a clean pass filling a KV cache block by block,
 * then each noisy block attending to it), measured in the same run on the same model.
 * @module
 */
import { type Gpu, Tensor } from "@blockdiff/core";
import { type Algo, modelConfig } from "@blockdiff/model/io";
import { BatchIterator, chunkSetFrom } from "@blockdiff/data";
import { Dit, newGraph, ParamSet } from "@blockdiff/model";
import { Trainer } from "@blockdiff/train";
import { emit } from "./harness.ts";

const VOCAB = 50258; // GPT-2 + mask, as the paper's OWT models

function randomRows(count: number, length: number, seed: number): Int32Array[] {
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
  return Array.from(
    { length: count },
    () => Int32Array.from({ length }, () => next() % (VOCAB - 1)),
  );
}

/** Options of the training bench. */
export interface TrainBenchOptions {
  sizes?: ("micro" | "tiny" | "small")[];
  lengths?: number[];
  algos?: Algo[];
  batch?: number;
  steps?: number;
}

/** Runs the training bench and prints one JSON line per case. */
export async function benchTrain(gpu: Gpu, opts: TrainBenchOptions = {}): Promise<void> {
  const sizes = opts.sizes ?? ["micro", "tiny"];
  const lengths = opts.lengths ?? [128, 1024];
  const algos = opts.algos ?? ["ar", "mdlm", "sedd", "bd3lm"];
  const batch = opts.batch ?? 1;
  const steps = opts.steps ?? 2;
  for (const size of sizes) {
    for (const L of lengths) {
      for (const algo of algos) {
        const config = modelConfig({
          size,
          algo,
          vocab: VOCAB,
          length: L,
          blockSize: algo === "bd3lm" ? 16 : L,
          dropout: 0.1,
        });
        using params = ParamSet.init(gpu, config, 1);
        using model = new Dit(gpu, params);
        const data = new BatchIterator(chunkSetFrom(randomRows(batch * (steps + 1), L, 7), L), {
          batchSize: batch,
          seed: 1,
        });
        using trainer = new Trainer(model, data, {
          batchSize: batch,
          maskId: VOCAB - 1,
          warmup: 10,
          ema: 0.9999,
        });
        await trainer.trainStep(); // pipelines compile here
        let ms = 0;
        for (let i = 0; i < steps; i++) ms += (await trainer.trainStep()).ms;
        ms /= steps;
        emit({
          bench: "train",
          case: `${size} L=${L} ${algo}${algo === "bd3lm" ? " L'=16" : ""}`,
          ms,
          ms_per_step: ms,
          tokens_per_s: (batch * L) / (ms / 1000),
          params: params.count,
          batch,
        });
      }
      await twoPass(gpu, size, L, batch);
    }
  }
}

/** Vectorized [x_t ; x0] forward vs the naive two-pass forward, same model and tokens. */
async function twoPass(
  gpu: Gpu,
  size: "micro" | "tiny" | "small",
  L: number,
  batch: number,
): Promise<void> {
  const b = 16;
  const config = modelConfig({
    size,
    algo: "bd3lm",
    vocab: VOCAB,
    length: L,
    blockSize: b,
    dropout: 0,
  });
  using params = ParamSet.init(gpu, config, 1);
  using model = new Dit(gpu, params);
  const rows = randomRows(2 * batch, L, 9);
  const xt = rows.slice(0, batch), x0 = rows.slice(batch);
  const both = new Int32Array(batch * 2 * L);
  xt.forEach((r, i) => both.set(r, i * 2 * L));
  x0.forEach((r, i) => both.set(r, i * 2 * L + L));
  const vectorized = async () => {
    using g = newGraph(gpu);
    const ids = g.keep(Tensor.from(gpu, both, [batch, 2 * L], "i32"));
    await model.forward(g, { ids }, { kind: "bdTrain" }).value.read();
  };
  const naive = async () => {
    using g = newGraph(gpu);
    const caches = model.createCaches(batch, L);
    const block = (src: Int32Array[], j: number) => {
      const out = new Int32Array(batch * b);
      src.forEach((r, i) => out.set(r.subarray(j * b, (j + 1) * b), i * b));
      return g.keep(Tensor.from(gpu, out, [batch, b], "i32"));
    };
    for (let j = 0; j < L / b; j++) {
      model.forwardCached(g, block(xt, j), caches); // noisy block over the clean prefix
      model.forwardCached(g, block(x0, j), caches, { commit: true }); // clean pass, K/V kept
    }
    await gpu.sync();
    for (const c of caches) c.dispose();
  };
  const time = async (fn: () => Promise<void>) => {
    await fn();
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const vMs = await time(vectorized);
  const nMs = await time(naive);
  emit({
    bench: "train",
    case: `${size} L=${L} vectorized vs two-pass forward (L'=${b})`,
    ms: vMs,
    vectorized_ms: vMs,
    two_pass_ms: nMs,
    speedup: nMs / vMs,
    note: "forward only: the naive pass runs the KV-cache path block by block",
  });
}

if (import.meta.main) {
  const { acquireGpu } = await import("@blockdiff/core/deno");
  using session = await acquireGpu();
  await benchTrain(session.gpu);
}
