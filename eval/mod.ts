/**
 * @module
 * Evaluation: test / zero-shot perplexity as the NELBO bound (docs/design.md, "Evaluation"),
 * generative perplexity under a causal scorer, sample entropy / lengths / NFE / throughput, the
 * English-word share of samples, the load check against garbled weights, Markdown tables, a dependency-free SVG line plot, and the fixed-vs-adaptive block-size
 * comparison.
 *
 * @example
 * ```ts
 * import { acquireGpu } from "@blockdiff/core/deno";
 * import { ByteTokenizer } from "@blockdiff/data";
 * import { Dit, modelConfig, ParamSet } from "@blockdiff/model";
 * import { formatTable, zeroShotPerplexity } from "@blockdiff/eval";
 * using session = await acquireGpu();
 * const config = modelConfig({ size: "micro", vocab: 260, length: 32, blockSize: 4 });
 * using params = ParamSet.init(session.gpu, config, 1);
 * using model = new Dit(session.gpu, params);
 * const r = await zeroShotPerplexity(model, new ByteTokenizer(), { kind: "brown" }, {
 *   split: "test",
 *   maxBatches: 1,
 * });
 * console.log(formatTable([{ ...r }]));
 * ```
 */
export * from "./perplexity.ts";
export * from "./gen_ppl.ts";
export * from "./sample_stats.ts";
export * from "./word_stats.ts";
export * from "./load_check.ts";
export * from "./table.ts";
export * from "./plot.ts";
export * from "./block_policies.ts";
// Types of the members this API builds on that its signatures take or return, so that
// its documentation is whole.
export type * from "@blockdiff/core";
export type * from "@blockdiff/data";
export type * from "@blockdiff/data/deno";
export type * from "@blockdiff/model";
export type * from "@blockdiff/sampling";
export type * from "@blockdiff/schedules";
export type * from "@blockdiff/train";
