/**
 * @module
 * The file-backed half of the data pipeline, for Deno: the embedded Brown corpus, local
 * .txt/.jsonl(.gz)/.parquet sources, the on-disk token cache and `loadChunks`, which ties them
 * to a tokenizer. The tokenizers, detokenizers and batching in `@blockdiff/data` need no file
 * system and also run in a browser.
 *
 * @example
 * ```ts
 * import { loadChunks } from "@blockdiff/data/deno";
 * import { ByteTokenizer } from "@blockdiff/data";
 * const chunks = await loadChunks({ kind: "brown" }, {
 *   tokenizer: new ByteTokenizer(),
 *   length: 128,
 *   split: "test",
 * });
 * console.log(chunks.count);
 * ```
 */
export * from "./brown.ts";
export * from "./stream.ts";
export * from "./parquet.ts";
export * from "./sources.ts";
export * from "./token_cache.ts";
export * from "./pipeline.ts";
// Types of the members this API builds on that its signatures take or return, so that
// its documentation is whole.
export type * from "@blockdiff/core";
export type * from "@blockdiff/data";
