/**
 * @module
 * Deno-only entry of `@blockdiff/core`: acquiring a GPU through Dawn (`npm:webgpu`),
 * listing adapters and finding software Vulkan drivers.
 */
export * from "./gpu/acquire.ts";
