/**
 * A plausibility check after loading weights: the NELBO (or AR NLL) of a short built-in English
 * text. Weights that loaded wrongly (tensors under the wrong names, transposed, the wrong dtype,
 * a tokenizer that does not match the vocabulary) produce confident nonsense whose loss lies
 * far above that of a uniform guess, ln V; any trained or freshly initialised model stays near
 * or below it. One short forward pass, so front ends can afford it on every load.
 * @module
 */
import type { Dit } from "@blockdiff/model";
import type { Tokenizer } from "@blockdiff/data";
import { testPerplexity } from "./perplexity.ts";

/** Plain English that any tokenizer encodes, repeated to fill the checked window. */
export const LOAD_CHECK_TEXT: string =
  "The old house stood at the end of a quiet road, and in the evening the light from its " +
  "windows fell across the garden. Every summer the family came back to open the doors, to " +
  "clean the rooms and to sit outside until it was too dark to read. Nobody in the village " +
  "could remember a time when the house had been empty for long. ";

/** Nats above ln V from which a loss counts as implausible. */
export const LOAD_CHECK_MARGIN = 1;

/** What {@link checkLoadedWeights} found (JSON-ready). */
export interface LoadCheck {
  /** Loss on the built-in text, nats per token (an upper bound for diffusion models). */
  nll: number;
  /** ln V, the loss of a uniform guess over the vocabulary. */
  uniform: number;
  /** Tokens scored. */
  tokens: number;
  /** False when `nll` exceeds `uniform` by more than {@link LOAD_CHECK_MARGIN}, or is not finite. */
  plausible: boolean;
}

/**
 * Scores {@link LOAD_CHECK_TEXT} (BOS first) over up to `maxTokens` positions, a multiple of the
 * model's block size, with a fixed seed so the number is the same on every load.
 */
export async function checkLoadedWeights(
  model: Dit,
  tokenizer: Tokenizer,
  maxTokens = 64,
): Promise<LoadCheck> {
  const c = model.config;
  const unit = c.algo === "bd3lm" ? c.blockSize : 1;
  const length = Math.max(unit, Math.floor(Math.min(maxTokens, c.length) / unit) * unit);
  const ids = new Int32Array(length);
  ids[0] = tokenizer.bosId;
  const text = tokenizer.encode(LOAD_CHECK_TEXT);
  for (let i = 1; i < length; i++) ids[i] = text[(i - 1) % text.length];
  const r = await testPerplexity(model, [{ ids, batch: 1, length }], {
    maskId: tokenizer.maskId,
    seed: 0,
  });
  const uniform = Math.log(c.vocab);
  return {
    nll: r.nll,
    uniform,
    tokens: r.tokens,
    plausible: Number.isFinite(r.nll) && r.nll <= uniform + LOAD_CHECK_MARGIN,
  };
}

/** The warning a front end prints for an implausible check, naming the likely causes. */
export function loadCheckWarning(name: string, check: LoadCheck): string {
  return `warning: ${name}: loss ${check.nll.toFixed(2)} nats/token on a built-in English ` +
    `text, above a uniform guess (ln V = ${check.uniform.toFixed(2)}): the weights may have ` +
    "loaded wrongly (mis-named or transposed tensors, or a tokenizer that is not the model's)";
}
