/**
 * @module
 * Host-side checkpoint I/O: safetensors reading (validated, lazy) and writing (atomic), the
 * Hugging Face BD3-LM layout (`config.json` + `model.safetensors`, with every key and shape
 * checked against the config), the mapping from Lightning `.ckpt` key names, and crash-safe
 * training checkpoints (weights, AdamW moments, EMA, RNG state, step, data position).
 *
 * @example
 * ```ts
 * import { loadHfCheckpoint, saveHfCheckpoint } from "@blockdiff/model/deno";
 * import { modelConfig, parameterCount } from "@blockdiff/model/io";
 * import { acquireGpu } from "@blockdiff/core/deno";
 * import { ParamSet } from "@blockdiff/model";
 * using session = await acquireGpu();
 * const config = modelConfig({ size: "micro", vocab: 260, length: 32, blockSize: 4 });
 * using params = ParamSet.init(session.gpu, config, 1);
 * const dir = await Deno.makeTempDir();
 * await saveHfCheckpoint(dir, config, await params.toHost());
 * const ck = await loadHfCheckpoint(dir);
 * console.log(ck.config.blockSize, parameterCount(ck.config), ck.tensors.size);
 * ```
 */
export * from "./errors.ts";
export * from "./host_tensor.ts";
export type { JsonValue } from "./_json.ts";
export * from "./safetensors_header.ts";
export {
  encodeSafetensors,
  type SafetensorsWriteOptions,
  type TensorsInput,
} from "./safetensors_write.ts";
export * from "./model_config.ts";
export * from "./hf_config.ts";
export * from "./hf_params.ts";
// Lightning `.ckpt` / torch.save files, read without running their pickles.
export * from "./pickle/mod.ts";
// Types these formats take or return, so this entry's documentation is whole.
export type { AtomicWriteOptions, Sink } from "./_atomic.ts";
export type * from "@blockdiff/core";
