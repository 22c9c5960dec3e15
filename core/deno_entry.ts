/**
 * @module
 * Deno-only entry of `@blockdiff/core`: acquiring a GPU through Dawn (`npm:webgpu`),
 * listing adapters and finding software Vulkan drivers, the per-adapter file cache of
 * kernel tuning tables, and replayable seeds for randomised checks (`BLOCKDIFF_SEED`).
 */
export * from "./gpu/acquire.ts";
export * from "./gpu/tuning_cache.ts";
export * from "./seed.ts";
// Types of the portable entry that these signatures take or return, so that the
// documentation is whole.
export type * from "./mod.ts";
