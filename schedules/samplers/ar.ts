/**
 * Autoregressive sampling: BOS, the prompt, then one token per network call drawn
 * from the temperature/nucleus-processed next-token distribution (the token of the model's
 * draw record). The reference's Gumbel-max draw is replaced by an inverse-CDF draw of the same
 * distribution.
 * @module
 */
import type { NextTokenModel } from "./denoiser.ts";
import { checkStop, type StopDecision } from "./stop_rules.ts";
import { prefixes } from "./prompt.ts";
import { SamplerRng } from "./rng.ts";
import { finishRows, type SamplerCommon, type SampleResult } from "./semi_ar.ts";

/**
 * Samples up to `length` tokens per row. NFE counts `append` calls: the prompt is one call,
 * then one per generated token (a cached model may run several passes inside the first).
 */
export async function arSample(model: NextTokenModel, opts: SamplerCommon): Promise<SampleResult> {
  const B = model.batch;
  const probOpts = { ...opts.probabilities, maskId: opts.maskId };
  const rules = opts.stopRules ?? [];
  const rng = new SamplerRng(opts.seed);
  const seq = prefixes(B, opts.bosId, opts.prompt);
  const P = seq[0].length;
  if (P >= opts.length) throw new RangeError(`prompt of ${P} tokens leaves nothing to generate`);
  const stops: (StopDecision | null)[] = new Array(B).fill(null);
  await model.reset();
  // One uniform per row and call: the next token of each row's draw record.
  const call = async (tokens: Int32Array, n: number): Promise<Int32Array> =>
    (await model.append(tokens, n, rng.uniforms(B), probOpts)).tokens;
  const started = performance.now();
  let drawn = await call(Int32Array.from(seq.flat()), P);
  const prefillSeconds = (performance.now() - started) / 1000;
  let nfe = 1;
  for (let pos = P; pos < opts.length && stops.some((s) => s === null); pos++) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const next = drawn;
    for (let r = 0; r < B; r++) {
      seq[r].push(next[r]);
      if (!stops[r] && seq[r].length > (opts.minStopLength ?? 0)) {
        stops[r] = checkStop(rules, seq[r], P, opts.minStopLength ?? 0);
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
      drawn = await call(next, 1);
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
    prefillSeconds,
  };
}
