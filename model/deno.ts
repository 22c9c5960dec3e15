/**
 * @module
 * The file-backed half of model I/O, for Deno (and other runtimes with a file system): lazy
 * safetensors reading, the Hugging Face layout on disk, crash-safe training checkpoints, atomic
 * writes and model-directory resolution. The portable half (`@blockdiff/model`) decodes and
 * validates bytes a caller already holds, so it also runs in a browser.
 *
 * @example
 * ```ts
 * import { loadModelDir } from "@blockdiff/model/deno";
 * const m = await loadModelDir("models/bundled");
 * console.log(m.config.blockSize, m.tensors.size, m.meta.tokenizer);
 * ```
 */
export * from "./io/safetensors_read.ts";
export * from "./io/safetensors_save.ts";
export * from "./io/hf_checkpoint.ts";
export * from "./io/training_checkpoint.ts";
export { type AtomicWriteOptions, type Sink, TEMP_MARK, writeFileAtomic } from "./io/_atomic.ts";
export * from "./io/model_dir.ts";
export * from "./io/pickle/lightning_file.ts";
// Types of the members this API builds on that its signatures take or return, so that
// its documentation is whole.
export type * from "@blockdiff/core";
export type * from "@blockdiff/model/io";
export * from "./io/hub/mod.ts";
