/**
 * @module
 * Deno-only entry of `@blockdiff/kernels`: kernel tuning tables cached in the user's cache
 * directory, one file per adapter (`loadOrTuneMatmul`). Everything in `@blockdiff/kernels`
 * itself is web-standard.
 */
export * from "./matmul/tuning_cache.ts";
// Types of the members this API builds on that its signatures take or return, so that
// its documentation is whole.
export type * from "@blockdiff/core";
export type * from "@blockdiff/core/deno";
export type * from "@blockdiff/kernels";
export * from "./attention/tuning_cache.ts";
// The tuning-run options that `LoadOrTuneAttentionOptions.tune` takes.
export type { TuneAttentionOptions } from "./attention/tuning.ts";
