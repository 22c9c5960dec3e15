/**
 * Autoregressive sampling (spec 4.7): BOS, the prompt, then one token per network call drawn
 * from the temperature/nucleus-processed next-token distribution. The reference's Gumbel-max
 * draw is replaced by an inverse-CDF draw of the same distribution.
 * @module
 */
import type { NextTokenModel } from "./denoiser.ts";
import { drawCategorical } from "./categorical.ts";
import { toProbabilities } from "./probabilities.ts";
import { checkStop, type StopDecision } from "./stop_rules.ts";
import { prefixes } from "./prompt.ts";
import { SamplerRng } from "./rng.ts";
import { finishRows, type SamplerCommon, type SampleResult } from "./semi_ar.ts";

/**
 * Samples up to `length` tokens per row. NFE counts `append` calls: the prompt is one call,
 * then one per generated token (a cached model may run several passes inside the first).
 */
export async function arSample(model: NextTokenModel, opts: SamplerCommon): Promise<SampleResult> {
  const B = model.batch, V = model.vocab;
  const probOpts = { ...opts.probabilities, maskId: opts.maskId };
  const rules = opts.stopRules ?? [];
  const rng = new SamplerRng(opts.seed);
  const seq = prefixes(B, opts.bosId, opts.prompt);
  const P = seq[0].length;
  if (P >= opts.length) throw new RangeError(`prompt of ${P} tokens leaves nothing to generate`);
  const stops: (StopDecision | null)[] = new Array(B).fill(null);
  await model.reset();
  let logits = await model.append(Int32Array.from(seq.flat()), P);
  let nfe = 1;
  for (let pos = P; pos < opts.length && stops.some((s) => s === null); pos++) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const probs = toProbabilities(logits, B, V, probOpts);
    const next = new Int32Array(B);
    for (let r = 0; r < B; r++) {
      next[r] = drawCategorical(probs, rng.next(), r * V, V);
      seq[r].push(next[r]);
      if (!stops[r] && seq[r].length > (opts.minStopLength ?? 0)) {
        stops[r] = checkStop(rules, seq[r], P);
      }
    }
    await opts.onStep?.({
      kind: "block",
      blockStart: pos,
      size: 1,
      step: 0,
      nfe,
      block: next,
      masked: 0,
    });
    if (pos + 1 < opts.length && stops.some((s) => s === null)) {
      logits = await model.append(next, 1);
      nfe++;
    }
  }
  const blockSizes = new Array(seq[0].length - P).fill(1);
  return {
    ...finishRows(seq, stops, opts.onStop ?? "truncate"),
    prefixLength: P,
    nfe,
    commits: 0,
    probes: 0,
    blockSizes,
    stops,
  };
}
