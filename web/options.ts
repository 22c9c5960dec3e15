/**
 * From a validated request to `generate`'s options. Shared by the server and the in-browser
 * mode, so both sample with exactly the same settings.
 * @module
 */
import type { GenerateOptions } from "@blockdiff/sampling";
import type { GenerateRequest } from "./validate.ts";

/** The block sizes the adaptive policy chooses among (the page's fixed choices). */
export const ADAPTIVE_SIZES: readonly number[] = [4, 8, 16];

/** `generate` options for `req`, with progress and cancellation hooked in. */
export function toGenerateOptions(
  req: GenerateRequest,
  hooks: Pick<GenerateOptions, "onStep" | "signal">,
): GenerateOptions {
  return {
    prompt: req.prompt,
    length: req.length,
    steps: req.steps,
    sampler: req.sampler,
    topP: req.topP,
    temperature: req.temperature,
    blockSize: req.blockSize === "adaptive"
      ? { adaptive: { sizes: ADAPTIVE_SIZES } }
      : req.blockSize,
    seed: req.seed,
    stopAtEos: req.stopAtEos,
    entropyStop: req.entropyStop === false ? false : { ...req.entropyStop },
    ...hooks,
  };
}
