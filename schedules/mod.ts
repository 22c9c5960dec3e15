/**
 * @module
 * Noise schedules, diffusion-time sampling and the clipped-schedule search: pure TypeScript,
 * no GPU code, usable anywhere.
 */
export * from "./noise.ts";
export * from "./time.ts";
export * from "./clip_search.ts";
export * from "./samplers/mod.ts";
