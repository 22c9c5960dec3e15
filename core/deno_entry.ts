/**
 * @module
 * Deno-only entry of `@blockdiff/core`: acquiring a GPU through Dawn (`npm:webgpu`),
 * listing adapters and finding software Vulkan drivers, and the per-adapter file cache of
 * kernel tuning tables.
 */
export * from "./gpu/acquire.ts";
export * from "./gpu/tuning_cache.ts";
