/**
 * @module
 * A Hugging Face Hub client for model checkpoints (Deno: it uses the file system and the
 * huggingface_hub cache). `resolveModelRef` turns `org/name[@revision]` into a local snapshot
 * directory, honouring `HF_ENDPOINT`, `HF_HOME`, `HF_HUB_CACHE`, `HF_TOKEN` and `HF_HUB_OFFLINE`.
 *
 * @example
 * ```ts ignore
 * import { loadModelDir, resolveModelRef } from "@blockdiff/model/deno";
 * const m = await loadModelDir(await resolveModelRef("kuleshov-group/bd3lm-owt-block_size4"));
 * ```
 */
export { OPTIONAL_MODEL_FILES, parseHubRef, resolveModelRef } from "./resolve.ts";
export type { HubRef, ResolveModelRefOptions } from "./resolve.ts";
export { hubSettings } from "./env.ts";
export type { HubOverrides, HubSettings } from "./env.ts";
export { hubDownload, HubEntryNotFound } from "./download.ts";
export type { HubDownloadOptions } from "./download.ts";
export { HubError } from "./errors.ts";
export { repoFolder } from "./cache.ts";
export { stderrByteProgress } from "./progress.ts";
export type { ByteProgress } from "./progress.ts";
