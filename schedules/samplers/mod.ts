/**
 * @module
 * Sampling for block diffusion, masked diffusion, SEDD and AR models, on host arrays: seeded
 * Philox draws, temperature / nucleus, per-block inner samplers (ancestral with the corrected
 * grid, first-hitting, confidence-ordered parallel unmasking), stop rules, block-size
 * policies (fixed, adaptive), and the drivers (semi-AR Algorithm 2, MDLM, AR, SEDD analytic)
 * against model interfaces implemented in `@blockdiff/sampling`.
 *
 * @example
 * ```ts
 * import {
 *   ancestral, fixedBlockSize, hostBlockDenoiser, semiArSample,
 * } from "@blockdiff/schedules";
 * // A toy model that always predicts token 1 (vocabulary {0, 1, 2 = mask}); its draw records
 * // come from the float64 reference of the sample-draw kernel.
 * const denoiser = hostBlockDenoiser({
 *   batch: 1, vocab: 3, reset() {}, commit() {},
 *   logits: (_b: Int32Array, n: number) =>
 *     Float32Array.from({ length: n * 3 }, (_, i) => (i % 3 === 1 ? 5 : 0)),
 * });
 * const r = await semiArSample(denoiser, {
 *   maskId: 2, bosId: 0, length: 8, seed: 1, inner: ancestral(4), blockSize: fixedBlockSize(4),
 *   probabilities: { temperature: 0 },
 * });
 * console.log([...r.rows[0]]); // [0, 1, 1, 1, 1, 1, 1, 1]
 * ```
 */
export * from "./rng.ts";
export * from "./categorical.ts";
export * from "./probabilities.ts";
export * from "./inner.ts";
export * from "./stop_rules.ts";
export * from "./block_size.ts";
export * from "./draw_record.ts";
export * from "./denoiser.ts";
export * from "./host_models.ts";
export * from "./prompt.ts";
export * from "./semi_ar.ts";
export * from "./ar.ts";
export * from "./analytic.ts";
