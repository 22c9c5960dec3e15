/**
 * Generative perplexity (docs/design.md, "Evaluation"): samples scored by a causal model with the
 * reference's sliding window (context C, stride C/2: every position scored once, with ≥ C/2 tokens
 * of context after the first window), EOS targets excluded, token-weighted over all samples.
 * The scorer is our AR `Dit` (any checkpoint loadable as one); GPT-2-family scorers (learned
 * positions, biased LayerNorm, tied embeddings) are a different architecture and out of scope.
 * @module
 */
import type { Dit } from "@blockdiff/model";
import { newGraph } from "@blockdiff/model";
import { Tensor } from "@blockdiff/core";
import type { Tokenizer } from "@blockdiff/data";

/** A causal scorer. */
export interface Scorer {
  /** Context size C of one window. */
  readonly context: number;
  /** Id excluded as a target (the scorer tokenizer's EOS). */
  readonly eosId: number;
  /** Retokenizes decoded text (when the generator's tokenizer differs), else undefined. */
  readonly tokenizer?: Tokenizer;
  /** −log p(ids[i+1] | ids[≤ i]) for i in [0, n − 1), for one window of ≤ C tokens. */
  windowNll(ids: Int32Array): Promise<Float64Array>;
}

/** Scores with an AR `Dit` (causal forward, mask logit excluded, float64 log-softmax). */
export class DitScorer implements Scorer {
  readonly context: number;
  readonly eosId: number;
  readonly tokenizer?: Tokenizer;
  readonly #model: Dit;
  readonly #maskId: number;

  /** Wraps an AR `model`; throws RangeError when `model` is not AR. */
  constructor(model: Dit, opts: { eosId: number; maskId: number; tokenizer?: Tokenizer }) {
    if (model.config.algo !== "ar") {
      throw new RangeError(`the scorer must be an AR model, got ${model.config.algo}`);
    }
    this.#model = model;
    this.context = model.config.length;
    this.eosId = opts.eosId;
    this.#maskId = opts.maskId;
    this.tokenizer = opts.tokenizer;
  }

  async windowNll(ids: Int32Array): Promise<Float64Array> {
    const n = ids.length, V = this.#model.config.vocab;
    if (n > this.context) {
      throw new RangeError(`window of ${n} exceeds the context ${this.context}`);
    }
    using g = newGraph(this.#model.gpu, { grad: false });
    const t = g.keep(Tensor.from(this.#model.gpu, ids, [1, n], "i32"));
    const logits = await this.#model.forward(g, { ids: t }, { kind: "causal" }).value.readFloat();
    const out = new Float64Array(Math.max(n - 1, 0));
    for (let i = 0; i + 1 < n; i++) {
      const off = i * V;
      let max = -Infinity;
      for (let v = 0; v < V; v++) {
        if (v !== this.#maskId && logits[off + v] > max) max = logits[off + v];
      }
      let sum = 0;
      for (let v = 0; v < V; v++) if (v !== this.#maskId) sum += Math.exp(logits[off + v] - max);
      out[i] = -(logits[off + ids[i + 1]] - max - Math.log(sum));
    }
    return out;
  }
}

/** Per-sample scoring: summed NLL and counted targets. */
export interface SampleScore {
  /** Summed negative log-likelihood (nats). */
  nll: number;
  /** Target tokens counted in `nll`. */
  tokens: number;
}

/** Scores one sample of any length with the sliding window. */
export async function scoreSample(scorer: Scorer, ids: Int32Array): Promise<SampleScore> {
  const C = scorer.context, stride = Math.max(1, Math.floor(C / 2));
  const len = ids.length;
  if (len < 2) return { nll: 0, tokens: 0 };
  const windows = Math.max(Math.ceil((len - C + stride) / stride), 1);
  let nll = 0, tokens = 0;
  for (let w = 0; w < windows; w++) {
    const start = w * stride, end = Math.min(start + C, len);
    const nlls = await scorer.windowNll(ids.subarray(start, end));
    // Window 0 scores targets 1 … end−1; later windows only their last C − stride targets.
    const first = w === 0 ? start + 1 : start + (C - stride);
    for (let p = first; p < end; p++) {
      if (ids[p] === scorer.eosId) continue;
      nll += nlls[p - start - 1];
      tokens++;
    }
  }
  return { nll, tokens };
}

/** Generative perplexity of a set of samples (JSON-ready). */
export interface GenPplResult {
  /** Token-weighted over all samples: exp(Σ nll / Σ tokens). */
  genPpl: number;
  /** Arithmetic mean of per-sample perplexities (what `log_sample_stats.py` prints). */
  meanSamplePpl: number;
  /** Perplexity of each sample, in input order (NaN for a sample with no targets). */
  perSample: number[];
  /** Target tokens counted over all samples. */
  tokens: number;
}

/**
 * Scores samples (token ids of the generator; decoded and retokenized when the scorer has its
 * own tokenizer and `decode` is given).
 */
export async function generativePerplexity(
  scorer: Scorer,
  samples: readonly ArrayLike<number>[],
  decode?: (ids: ArrayLike<number>) => string,
): Promise<GenPplResult> {
  let nll = 0, tokens = 0;
  const perSample: number[] = [];
  for (const s of samples) {
    const ids = scorer.tokenizer && decode
      ? Int32Array.from(scorer.tokenizer.encode(decode(s)))
      : Int32Array.from(s);
    const r = await scoreSample(scorer, ids);
    nll += r.nll;
    tokens += r.tokens;
    perSample.push(r.tokens ? Math.exp(r.nll / r.tokens) : NaN);
  }
  const finite = perSample.filter(Number.isFinite);
  return {
    genPpl: tokens ? Math.exp(nll / tokens) : NaN,
    meanSamplePpl: finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : NaN,
    perSample,
    tokens,
  };
}
