/**
 * End-to-end speed, the figures a user compares before choosing blockdiff:
 *
 * - sampling tokens/s and NFE for BD3-LM (L′ = 4, 8, 16), MDLM and AR at a 1024-token
 *   context, batch 1 and 8, with and without the KV cache (their ratio is the cache's
 *   speed-up). Each run starts from a prompt that fills the window, so the cached and
 *   recomputed paths both work at full context; decoding is timed apart from the prompt's
 *   prefill. Random weights (speed does not depend on the values), stop rules off, so every
 *   run generates the same number of tokens;
 * - where each sampling pass stands against the adapter's ceilings measured in the same run
 *   (matmul and FMA GFLOP/s, shader read GB/s, dispatch overhead): the fraction of each it
 *   reaches shows which one bounds the phase;
 * - the same sampling run in PyTorch on the same weights (tools/reference/sample_torch.py, an
 *   independent port: the bd3lms code itself needs PyTorch ≥ 2 and transformers), as a ratio;
 * - training tokens/s per algorithm and the vectorized [x_t ; x0] pass against the naive
 *   two-pass one (bench/train.ts).
 *
 * Software adapters get smaller defaults (the `tiny` size, fewer tokens) so a run fits in
 * minutes; every default can be overridden.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { type ModelConfig, modelConfig } from "@blockdiff/model/io";
import { loadTokenizer } from "@blockdiff/data";
import { Dit, halfWeightsPay, ParamSet } from "@blockdiff/model";
import { generate } from "@blockdiff/sampling";
import { matmul } from "@blockdiff/kernels";
import { Tensor } from "@blockdiff/core";
import { emit, timeGpu } from "./harness.ts";
import { benchCeiling } from "./kernels/ceiling.ts";
import { benchTrain } from "./train.ts";
import { runPytorchPeer } from "./pytorch_peer.ts";

/** Model sizes the bench runs. */
export type E2eSize = "micro" | "tiny" | "small";

/** Options of the end-to-end bench; unset ones get per-adapter defaults. */
export interface E2eOptions {
  /** Model sizes to run (default `tiny` and `small`; `tiny` alone on a CPU driver). */
  sizes?: E2eSize[];
  /** Context window the prompt fills, tokens (default 1024). */
  context?: number;
  /** Batch sizes to run (default 1 and 8). */
  batches?: number[];
  /** Tokens generated per run with the KV cache / without it (recomputing is far slower). */
  tokensCached?: number;
  /** See `tokensCached` (default 32; 2 on a CPU driver). */
  tokensUncached?: number;
  /** Only the cases whose label contains one of these (e.g. "L'=4", "AR"). */
  cases?: string[];
  /** PyTorch device for the peer column, or "none" to skip it. */
  pytorch?: "cpu" | "cuda" | "none";
  /** Training steps timed per algorithm (0 skips the training part). */
  trainSteps?: number;
}

/** The adapter's measured limits. */
export interface Ceilings {
  /** Peak FMA throughput of a shader, GFLOP/s. */
  fmaGflops: number;
  /** The default matmul kernel on 1024³, GFLOP/s. */
  matmulGflops: number;
  /** What a shader can read from a storage buffer, GB/s. */
  readGbps: number;
  /** Overhead of one compute dispatch, µs. */
  dispatchUs: number;
}

interface SampleCase {
  label: string;
  algo: "bd3lm" | "mdlm" | "ar";
  blockSize: number;
}

/** Defaults for this adapter: the full plan on a GPU, a few-minute run on a CPU driver. */
export function e2eDefaults(gpu: Gpu): Required<E2eOptions> {
  const soft = gpu.info.isSoftware;
  return {
    sizes: soft ? ["tiny"] : ["tiny", "small"],
    context: 1024,
    batches: [1, 8],
    tokensCached: soft ? 16 : 128,
    tokensUncached: soft ? 2 : 32,
    cases: [],
    pytorch: "cpu",
    trainSteps: soft ? 1 : 3,
  };
}

const PROMPT_TEXT = "The quick brown fox jumps over the lazy dog. ".repeat(400);

/** Runs the end-to-end bench, printing JSON lines and then a table on stderr. */
export async function benchE2e(gpu: Gpu, options: E2eOptions = {}): Promise<void> {
  const o = { ...e2eDefaults(gpu), ...definedOnly(options) };
  const ceilings = await measureCeilings(gpu);
  const tok = await loadTokenizer("gpt2");
  const ctx = o.context;
  const cases: SampleCase[] = [
    { label: "BD3-LM L'=4", algo: "bd3lm", blockSize: 4 },
    { label: "BD3-LM L'=8", algo: "bd3lm", blockSize: 8 },
    { label: "BD3-LM L'=16", algo: "bd3lm", blockSize: 16 },
    { label: "AR", algo: "ar", blockSize: ctx },
    { label: "MDLM", algo: "mdlm", blockSize: ctx },
  ].filter((c) => o.cases.length === 0 || o.cases.some((f) => c.label.includes(f))) as SampleCase[];
  const table: string[][] = [];
  for (const size of o.sizes) {
    for (const c of cases) {
      const config = modelConfig({
        size,
        algo: c.algo,
        vocab: tok.vocabSize,
        length: ctx,
        blockSize: c.blockSize,
        dropout: 0,
      });
      using params = ParamSet.init(gpu, config, 1);
      using model = new Dit(gpu, params);
      // As `bd3 sample` does: f16 weight copies where they pay (hardware with shader-f16).
      const half = halfWeightsPay(gpu) && await model.useHalfWeights();
      for (const batch of o.batches) {
        const rates: Record<string, number> = {};
        for (const kvCache of c.algo === "mdlm" ? [false] : [true, false]) {
          const gen = kvCache ? o.tokensCached : o.tokensUncached;
          // MDLM denoises the whole window at once: T = gen steps over L tokens.
          const promptIds = c.algo === "mdlm"
            ? []
            : tok.encode(PROMPT_TEXT).slice(0, ctx - gen - 1);
          const run = (tokens: number) =>
            generate(model, tok, {
              prompt: c.algo === "mdlm" ? undefined : tok.decode(promptIds),
              batch,
              // The prompt fills the window up to the generated tokens: the last one lands at
              // position ctx − 1 (no sliding), at full context for both paths.
              length: c.algo === "mdlm" ? ctx : promptIds.length + 1 + tokens,
              algo: c.algo,
              sampler: c.algo === "mdlm" ? "ancestral" : "first-hitting",
              steps: c.algo === "mdlm" ? tokens : undefined,
              kvCache,
              stopAtEos: false,
              entropyStop: false,
              seed: 1,
            });
          // Warm-up: compiles every pipeline and fills the buffer pool, so the timed run
          // measures the steady state (and its buffer count shows whether it allocates).
          // Recomputing paths warm up with one pass; cached ones with two blocks (so the commit
          // pass between blocks runs too).
          const warm = !kvCache || c.algo === "mdlm" ? 1 : c.algo === "ar" ? 2 : 2 * c.blockSize;
          await run(Math.min(gen, warm));
          const before = gpu.counters.dispatches;
          const buffers = gpu.pool.stats().created;
          const out = await run(gen);
          const generated = out.lengths.reduce((a, b) => a + b, 0);
          const decodeS = out.seconds - out.prefillSeconds;
          const tps = generated / decodeS;
          rates[kvCache ? "cached" : "uncached"] = tps;
          // Network passes while decoding: predictions, plus the KV commits of finished blocks
          // (all but the last block's; a recomputing denoiser's commits run no pass).
          const commitPasses = kvCache && c.algo === "bd3lm" ? out.blockSizes.length - 1 : 0;
          const passes = out.nfe + commitPasses;
          const phase = phaseFractions(config, ceilings, {
            msPerPass: (decodeS * 1000) / passes,
            // A cached pass runs one block (AR: one token); a recomputing pass the window.
            tokensPerPass: batch *
              (kvCache ? (c.algo === "ar" ? 1 : Math.min(c.blockSize, gen)) : ctx),
            // Only the positions being predicted are projected to the vocabulary.
            vocabRowsPerPass: batch * (c.algo === "ar" ? 1 : Math.min(c.blockSize, ctx)),
            // Cached tokens see the whole cache; a causal / block-causal window about half of it.
            contextPerToken: kvCache || c.algo === "mdlm" ? ctx : ctx / 2,
            batch,
            dispatchesPerPass: (gpu.counters.dispatches - before) / passes,
          });
          const label = `${size} ctx=${ctx} ${c.label} batch=${batch} ${
            kvCache ? "kv-cache" : "no-cache"
          }`;
          const peer = o.pytorch !== "none"
            ? await runPytorchPeer({
              model: params,
              algo: c.algo,
              blockSize: c.blockSize,
              batch,
              promptIds: tok.encode(tok.decode(promptIds)),
              generate: c.algo === "mdlm" ? ctx - 1 : gen,
              steps: c.algo === "mdlm" ? gen : undefined,
              kvCache,
              device: o.pytorch,
            })
            : null;
          // The peer's decoding rate, its prompt passes excluded as ours are.
          const peerTps = peer && "tokens_per_s" in peer
            ? peer.generated / Math.max(peer.seconds - peer.prefill_seconds, 1e-9)
            : null;
          emit({
            bench: "e2e",
            case: label,
            ms: decodeS * 1000,
            tokens_per_s: tps,
            nfe: out.nfe,
            generated_tokens: generated,
            prefill_ms: out.prefillSeconds * 1000,
            ms_per_pass: (decodeS * 1000) / passes,
            buffers_created: gpu.pool.stats().created - buffers,
            weights: half ? "f16 (GEMVs)" : "f32",
            ...phase,
            ...(peer
              ? "skipped" in peer ? { pytorch_skipped: peer.skipped } : {
                pytorch_tokens_per_s: peerTps,
                pytorch_prefill_ms: peer.prefill_seconds * 1000,
                pytorch_nfe: peer.nfe,
                pytorch_device: peer.device,
                pytorch_threads: peer.threads,
                pytorch_matmul: peer.matmul,
                vs_pytorch: tps / peerTps!,
              }
              : {}),
          });
          table.push([
            label,
            tps.toFixed(1),
            String(out.nfe),
            ((decodeS * 1000) / passes).toFixed(1),
            `${pct(phase.of_matmul_ceiling)} / ${pct(phase.of_read_ceiling)} / ${
              pct(phase.dispatch_share)
            }`,
            peerTps ? `${peerTps.toFixed(1)} (${(tps / peerTps).toFixed(2)}×)` : "–",
          ]);
        }
        if (rates.cached && rates.uncached) {
          const speedup = rates.cached / rates.uncached;
          emit({
            bench: "e2e",
            case: `${size} ctx=${ctx} ${c.label} batch=${batch} KV-cache speed-up`,
            ms: 0,
            kv_speedup: speedup,
          });
          table.push([`  KV-cache speed-up`, `${speedup.toFixed(2)}×`, "", "", "", ""]);
        }
      }
    }
  }
  if (o.pytorch === "none") {
    emit({ bench: "e2e", case: "PyTorch reference", ms: 0, skipped: "--pytorch none" });
  }
  if (o.trainSteps > 0) {
    // Training keeps the logits of every position, [L, V] f32 in one binding: on adapters with
    // a small binding limit (128 MiB on lavapipe) GPT-2's vocabulary caps L below 1024.
    let L = ctx;
    const limit = gpu.device.limits.maxStorageBufferBindingSize;
    while (L > 16 && L * tok.vocabSize * 4 > limit) L /= 2;
    if (L !== ctx) {
      emit({
        bench: "train",
        case: `context ${ctx} → ${L}`,
        ms: 0,
        note:
          `logits of ${ctx} positions × ${tok.vocabSize} exceed the ${limit}-byte binding limit`,
      });
    }
    await benchTrain(gpu, { sizes: o.sizes, lengths: [L], batch: 1, steps: o.trainSteps });
  }
  printTable(gpu, ceilings, table);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The ceilings (bench/kernels/ceiling.ts) plus the default matmul's rate at 1024³. */
export async function measureCeilings(gpu: Gpu): Promise<Ceilings> {
  const c = await benchCeiling(gpu);
  const n = 1024;
  using a = Tensor.from(gpu, new Float32Array(n * n).fill(0.5), [n, n]);
  using b = Tensor.from(gpu, new Float32Array(n * n).fill(0.25), [n, n]);
  const ms = await timeGpu(gpu, () => matmul(a, b).dispose(), { iters: 3 });
  const matmulGflops = (2 * n ** 3) / ms / 1e6;
  emit({ bench: "ceiling", case: "matmul 1024³ (default kernel)", ms, gflops: matmulGflops });
  return {
    fmaGflops: c.fmaGflops,
    matmulGflops,
    readGbps: c.readGbps,
    dispatchUs: c.dispatchUs,
  };
}

/** What one network pass does, for `phaseFractions`. */
export interface PassShape {
  msPerPass: number;
  /** Query tokens in the pass (all rows). */
  tokensPerPass: number;
  /** Of those, the positions projected to the vocabulary. */
  vocabRowsPerPass: number;
  /** Keys each token attends to (at most). */
  contextPerToken: number;
  batch: number;
  dispatchesPerPass: number;
}

/**
 * Achieved rates of one pass and their fractions of the ceilings: GFLOP/s of the Linear
 * layers and attention against the matmul ceiling, bytes of weights and KV cache read
 * against the shader read bandwidth, and the share of the pass spent in dispatch overhead.
 * The largest fraction names the bound.
 */
export function phaseFractions(
  c: ModelConfig,
  ceil: Ceilings,
  p: PassShape,
): {
  gflops: number;
  gbps: number;
  of_matmul_ceiling: number;
  of_fma_ceiling: number;
  of_read_ceiling: number;
  dispatch_share: number;
  bound: string;
} {
  const d = c.hidden;
  // Linear weights per block: qkv 3d², out d², MLP 8d², adaLN 6d·c (once per pass); output d·V.
  const blockWeights = 12 * d * d;
  const linearFlops = 2 *
    (p.tokensPerPass * c.blocks * blockWeights + p.vocabRowsPerPass * d * c.vocab);
  const attnFlops = 4 * p.tokensPerPass * p.contextPerToken * d * c.blocks;
  const flops = linearFlops + attnFlops;
  const weightBytes = 4 * (c.blocks * (blockWeights + 6 * d * c.condDim) + d * c.vocab);
  const kvBytes = 4 * 2 * c.blocks * p.batch * p.contextPerToken * d;
  const seconds = p.msPerPass / 1000;
  const gflops = flops / seconds / 1e9;
  const gbps = (weightBytes + kvBytes) / seconds / 1e9;
  const fr = {
    of_matmul_ceiling: gflops / ceil.matmulGflops,
    of_fma_ceiling: gflops / ceil.fmaGflops,
    of_read_ceiling: gbps / ceil.readGbps,
    dispatch_share: (p.dispatchesPerPass * ceil.dispatchUs) / 1000 / p.msPerPass,
  };
  const bound =
    fr.of_matmul_ceiling >= fr.of_read_ceiling && fr.of_matmul_ceiling >= fr.dispatch_share
      ? "compute"
      : fr.of_read_ceiling >= fr.dispatch_share
      ? "memory"
      : "dispatch";
  return { gflops, gbps, ...fr, bound };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(x < 0.1 ? 1 : 0)}%`;
}

function printTable(gpu: Gpu, ceil: Ceilings, rows: string[][]): void {
  const head = [
    "case",
    "tokens/s",
    "NFE",
    "ms/pass",
    "of matmul / read / dispatch",
    "PyTorch tok/s (ours ×)",
  ];
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((x, i) => (x ?? "").padEnd(widths[i])).join("  ");
  console.error(
    `\n${gpu.info.name}: matmul ${ceil.matmulGflops.toFixed(1)} GFLOP/s, FMA ${
      ceil.fmaGflops.toFixed(1)
    } GFLOP/s, shader read ${ceil.readGbps.toFixed(2)} GB/s, ${
      ceil.dispatchUs.toFixed(0)
    } µs/dispatch`,
  );
  console.error(all.map(line).join("\n"));
}
