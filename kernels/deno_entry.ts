/**
 * @module
 * Deno-only entry of `@blockdiff/kernels`: kernel tuning tables cached in the user's cache
 * directory, one file per adapter (`loadOrTuneMatmul`). Everything in `@blockdiff/kernels`
 * itself is web-standard.
 */
export * from "./matmul/tuning_cache.ts";
