/**
 * @module
 * GPU-side sampling: the model interfaces of `@blockdiff/schedules` implemented over `Dit`
 * (BD3-LM block denoisers with and without KV cache, MDLM / SEDD full-sequence models, AR with
 * and without KV cache) and `generate`, which goes from prompt text to decoded samples.
 *
 * @example
 * ```ts
 * import { acquireGpu } from "@blockdiff/core/deno";
 * import { ByteTokenizer } from "@blockdiff/data";
 * import { Dit, modelConfig, ParamSet } from "@blockdiff/model";
 * import { generate } from "@blockdiff/sampling";
 * using session = await acquireGpu();
 * const config = modelConfig({ size: "micro", vocab: 260, length: 32, blockSize: 4 });
 * using params = ParamSet.init(session.gpu, config, 1);
 * using model = new Dit(session.gpu, params);
 * const out = await generate(model, new ByteTokenizer(), { prompt: "The", length: 32, topP: 0.9 });
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
