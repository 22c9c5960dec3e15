/**
 * @module
 * GPU-side sampling: the model interfaces of `@blockdiff/schedules` implemented over `Dit`
 * (BD3-LM block denoisers with and without KV cache, MDLM / SEDD full-sequence models, AR with
 * and without KV cache) and `generate`, which goes from prompt text to decoded samples.
 *
 * @example
 * ```ts ignore
 * import { generate } from "@blockdiff/sampling";
 * const out = await generate(model, tokenizer, { prompt: "The", length: 128, topP: 0.9 });
 * console.log(out.texts[0], out.nfe, out.tokensPerSecond);
 * ```
 */
export * from "./kv_denoiser.ts";
export * from "./window_denoiser.ts";
export * from "./full_denoiser.ts";
export * from "./ar_models.ts";
export * from "./generate.ts";
// Types of the members this API builds on that its signatures take or return, so that
// its documentation is whole.
export type * from "@blockdiff/core";
export type * from "@blockdiff/data";
export type * from "@blockdiff/model";
export type * from "@blockdiff/schedules";
