/**
 * SEDD's analytic sampler for the absorbing process: a τ-grid from 1 to ε, the
 * staggered score, the transition weights of a masked token, and a final denoising step.
 * Visible tokens never change, so only masked positions are computed.
 * @module
 */
import type { ScoreModel } from "./denoiser.ts";
import { drawCategorical } from "./categorical.ts";
import { nucleusRow } from "./probabilities.ts";
import { checkStop, type StopDecision } from "./stop_rules.ts";
import { prefixes } from "./prompt.ts";
import { SamplerRng } from "./rng.ts";
import { finishRows, type SamplerCommon, type SampleResult } from "./semi_ar.ts";
import { logLinearSigma } from "../noise.ts";

/** Options of {@link analyticSample}; `length` must equal the model's L. */
export interface AnalyticOptions extends SamplerCommon {
  /** Grid steps T (NFE = T; the final denoising call is not counted, as in the reference). */
  steps: number;
  /** Smallest time ε (default 1e-5). */
  eps?: number;
  /** σ(t) of the noise schedule (default log-linear). */
  sigma?: (t: number) => number;
}

/**
 * Weights π `[V]` of one masked position into `out`: scores from raw outputs (as in SEDD's score
 * entropy: raw − log expm1(σ) − ln(V − 1), the mask entry 0), nucleus-normalised when topP < 1,
 * then π_v = (e^Δ − 1)·s_v and π_m = e^Δ·s_m + (1 − e^Δ)·Σs (or 0 in the final step). Negative
 * π_m (possible when Σs is large) is clamped to 0, as the reference's argmax race ignores it.
 */
export function analyticWeights(
  raw: ArrayLike<number>,
  offset: number,
  vocab: number,
  maskId: number,
  sigma: number,
  delta: number,
  final: boolean,
  topP: number,
  out: Float64Array,
): void {
  const shift = Math.log(Math.expm1(sigma)) + Math.log(vocab - 1);
  let max = 0; // the mask entry's log-score
  for (let v = 0; v < vocab; v++) if (v !== maskId) max = Math.max(max, raw[offset + v] - shift);
  // Scores relative to exp(max), so large logits cannot overflow; π is then off by that
  // common factor, which does not change the draw.
  let sum = 0;
  for (let v = 0; v < vocab; v++) {
    const s = Math.exp((v === maskId ? 0 : raw[offset + v] - shift) - max);
    out[v] = s;
    sum += s;
  }
  if (topP < 1) {
    for (let v = 0; v < vocab; v++) out[v] /= sum;
    nucleusRow(out, 0, vocab, topP);
    sum = 1;
  }
  const e = Math.exp(delta);
  const sm = out[maskId];
  for (let v = 0; v < vocab; v++) out[v] *= e - 1;
  out[maskId] = final ? 0 : Math.max(0, e * sm + (1 - e) * sum);
}

/** Samples `[B, L]` with the analytic sampler. */
export async function analyticSample(
  model: ScoreModel,
  opts: AnalyticOptions,
): Promise<SampleResult> {
  const B = model.batch, L = model.length, V = model.vocab, m = opts.maskId;
  if (opts.length !== L) {
    throw new RangeError(`SEDD samples the model length ${L}, not ${opts.length}`);
  }
  const T = opts.steps, eps = opts.eps ?? 1e-5;
  if (!Number.isInteger(T) || T < 1) throw new RangeError(`steps must be ≥ 1, got ${T}`);
  const sigma = opts.sigma ?? logLinearSigma;
  const topP = opts.probabilities?.topP ?? 1;
  const rng = new SamplerRng(opts.seed);
  const seq = prefixes(B, opts.bosId, opts.prompt);
  const P = seq[0].length;
  const x = new Int32Array(B * L).fill(m);
  for (let r = 0; r < B; r++) x.set(seq[r], r * L);
  const dt = (1 - eps) / T;
  const w = new Float64Array(V);
  const update = async (t: number, delta: number, final: boolean) => {
    const sig = sigma(t);
    const raw = await model.scores(x, sig);
    for (let i = 0; i < B * L; i++) {
      if (x[i] !== m) continue;
      analyticWeights(raw, i * V, V, m, sig, final ? sig : delta, final, topP, w);
      x[i] = drawCategorical(w, rng.next());
    }
  };
  for (let i = 0; i < T; i++) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const t = 1 - i * dt;
    await update(t, sigma(t) - sigma(t - dt), false);
    await opts.onStep?.({
      kind: "step",
      blockStart: 0,
      size: L,
      step: i + 1,
      nfe: i + 1,
      block: x.slice(),
      masked: x.reduce((n, v) => n + (v === m ? 1 : 0), 0),
    });
  }
  await update(eps, 0, true);
  const rows = Array.from({ length: B }, (_, r) => Array.from(x.subarray(r * L, (r + 1) * L)));
  const stops: (StopDecision | null)[] = rows.map((row) =>
    row.length > (opts.minStopLength ?? 0)
      ? checkStop(opts.stopRules ?? [], row, P, opts.minStopLength ?? 0)
      : null
  );
  // The reference rejects a SEDD sample whenever a rule fires; the default here
  // follows the caller's mode like every other sampler.
  return {
    ...finishRows(rows, stops, opts.onStop ?? "truncate"),
    prefixLength: P,
    nfe: T,
    commits: 0,
    probes: 0,
    blockSizes: [L],
    stops,
  };
}
