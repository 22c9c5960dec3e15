/**
 * @module
 * blockdiff's data pipeline (docs/design.md, "Data and tokenizers"): tokenizers (GPT-2,
 * bert-base-uncased, bytes, any byte-level-BPE or WordPiece tokenizer.json), the embedded Brown
 * corpus, local .txt/.jsonl(.gz)/.parquet sources, detokenizers, the reference's wrap and pad
 * modes, an on-disk token cache and resumable seeded batching.
 *
 * @example
 * ```ts
 * import { BatchIterator, ByteTokenizer } from "@blockdiff/data";
 * import { loadChunks } from "@blockdiff/data/deno";
 * const tokenizer = new ByteTokenizer();
 * const chunks = await loadChunks({ kind: "brown" }, { tokenizer, length: 128, split: "test" });
 * const it = new BatchIterator(chunks, { batchSize: 8, seed: 1 });
 * const batch = it.next().value; // batch.ids: Int32Array of 8 × 128
 * ```
 */
export * from "./errors.ts";
export * from "./tokenizer.ts";
export * from "./byte_tokenizer.ts";
export * from "./gpt2.ts";
export * from "./bert_basic.ts";
export * from "./special_split.ts";
export * from "./wordpiece.ts";
export * from "./bert.ts";
export * from "./byte_bpe.ts";
export * from "./bpe_train.ts";
export * from "./hf_tokenizer.ts";
export * from "./detokenizers.ts";
export * from "./wrap.ts";
export * from "./splits.ts";
export * from "./batches.ts";
export * from "./by_name.ts";
// Types of `@blockdiff/core` that this API takes or returns, so its documentation is whole.
export type * from "@blockdiff/core";
