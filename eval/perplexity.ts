/**
 * Test perplexity (docs/design.md, "Evaluation"): the per-token NELBO (diffusion models: an upper
 * bound, reported as "≤ PPL") or the exact NLL (AR), token-weighted over the whole set with the
 * reference's evaluation reductions (BOS excluded for diffusion models, one antithetic (t, mask)
 * draw per block per sequence). Uses whatever weights the model holds: EMA is the caller's concern.
 * @module
 */
import type { Dit } from "@blockdiff/model";
import { newGraph } from "@blockdiff/model";
import { objectiveLoss, type TokenBatch } from "@blockdiff/train";
import type { ChunkSet } from "@blockdiff/data";
import { type ChunkOptions, loadChunks, type Source } from "@blockdiff/data/deno";
import type { Tokenizer } from "@blockdiff/data";
import type { ClipInterval } from "@blockdiff/schedules";

/** Result of a perplexity evaluation (JSON-ready). */
export interface PerplexityResult {
  /** Training objective of the model (`ar`, `mdlm`, …). */
  algo: string;
  /** True for diffusion models: nll and ppl are upper bounds (NELBO). */
  bound: boolean;
  /** Token-weighted mean NLL (nats / token). */
  nll: number;
  /** nll / ln 2. */
  bpd: number;
  /** exp(nll). */
  ppl: number;
  /** Tokens in the denominator. */
  tokens: number;
  /** Batches evaluated. */
  batches: number;
  /** Sequences evaluated. */
  sequences: number;
}

/** Options of {@link testPerplexity}. */
export interface PerplexityOptions {
  /** Mask token id (diffusion models). */
  maskId: number;
  /** Seed of the (t, mask) draws; batch i uses step i. Default 0. */
  seed?: number;
  /** Time interval (default (1e-3, 1), the reportable bound). */
  interval?: ClipInterval;
  /** Stop after this many batches. */
  maxBatches?: number;
}

/** Splits a chunk set into evaluation batches in file order (the last one may be short). */
export function* evalBatches(chunks: ChunkSet, batchSize: number): Generator<TokenBatch> {
  const L = chunks.length;
  for (let i = 0; i < chunks.count; i += batchSize) {
    const rows = Math.min(batchSize, chunks.count - i);
    yield { ids: chunks.data.subarray(i * L, (i + rows) * L), batch: rows, length: L };
  }
}

/** Evaluates the NELBO / NLL over `batches`. */
export async function testPerplexity(
  model: Dit,
  batches: Iterable<TokenBatch> | AsyncIterable<TokenBatch>,
  opts: PerplexityOptions,
): Promise<PerplexityResult> {
  let sum = 0, tokens = 0, n = 0, sequences = 0;
  for await (const batch of batches) {
    if (opts.maxBatches !== undefined && n >= opts.maxBatches) break;
    using g = newGraph(model.gpu, { grad: false });
    const r = objectiveLoss(g, model, batch, {
      maskId: opts.maskId,
      seed: opts.seed ?? 0,
      step: n,
      eval: true,
      interval: opts.interval,
    });
    // The loss is Σ weighted per-token losses / counted tokens: undo the mean to pool batches.
    const loss = (await r.loss.value.readFloat())[0];
    sum += loss * r.tokens;
    tokens += r.tokens;
    sequences += batch.batch;
    n++;
  }
  if (tokens === 0) throw new RangeError("testPerplexity: no tokens evaluated");
  const nll = sum / tokens;
  return {
    algo: model.config.algo,
    bound: model.config.algo !== "ar",
    nll,
    bpd: nll / Math.LN2,
    ppl: Math.exp(nll),
    tokens,
    batches: n,
    sequences,
  };
}

/** Options of {@link zeroShotPerplexity}. */
export interface ZeroShotOptions
  extends Omit<PerplexityOptions, "maskId">, Omit<ChunkOptions, "tokenizer" | "length"> {
  /** Sequences per batch. Default 8. */
  batchSize?: number;
  /** Row length (default: the model length). */
  length?: number;
}

/**
 * Perplexity on any data source (Brown, a local .txt / .jsonl / .parquet file), chunked as the
 * reference's zero-shot evaluation does (wrap mode; BOS/EOS around chunks by default).
 */
export async function zeroShotPerplexity(
  model: Dit,
  tokenizer: Tokenizer,
  source: Source,
  opts: ZeroShotOptions = {},
): Promise<PerplexityResult> {
  const { batchSize = 8, length = model.config.length, seed, interval, maxBatches, ...chunk } =
    opts;
  const chunks = await loadChunks(source, { ...chunk, tokenizer, length });
  return await testPerplexity(model, evalBatches(chunks, batchSize), {
    maskId: tokenizer.maskId,
    seed,
    interval,
    maxBatches,
  });
}
