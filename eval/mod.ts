/**
 * @module
 * Evaluation: test / zero-shot perplexity as the NELBO bound (docs/design.md, "Evaluation"),
 * generative perplexity under a causal scorer (6.2), sample entropy / lengths / NFE / throughput
 * (6.3), Markdown tables, a dependency-free SVG line plot, and the fixed-vs-adaptive block-size
 * comparison.
 *
 * @example
 * ```ts ignore
 * import { formatTable, zeroShotPerplexity } from "@blockdiff/eval";
 * const r = await zeroShotPerplexity(model, tokenizer, { kind: "brown" }, { split: "test" });
 * console.log(formatTable([r]));
 * ```
 */
export * from "./perplexity.ts";
export * from "./gen_ppl.ts";
export * from "./sample_stats.ts";
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
