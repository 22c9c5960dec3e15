/**
 * @module
 * blockdiff: block diffusion language models (BD3-LM) on WebGPU.
 *
 * The public API of every workspace member: the GPU runtime and tensors, device acquisition in
 * Deno, data (tokenizers, corpora), checkpoints (safetensors, the Hugging Face layout), the
 * DiT model, training, the WGSL kernels, noise schedules and the web app.
 *
 * @example
 * ```ts ignore
 * import { acquireGpu, matmul, Tensor } from "./mod.ts";
 * using session = await acquireGpu();
 * const a = Tensor.from(session.gpu, [1, 2, 3, 4], [2, 2]);
 * console.log(await matmul(a, a).read());
 * ```
 */
export * from "./core/mod.ts";
export * from "./core/deno_entry.ts";
export * from "./data/mod.ts";
export * from "./model/mod.ts";
export * from "./train/mod.ts";
export * from "./sampling/mod.ts";
export * from "./eval/mod.ts";
export * from "./kernels/mod.ts";
export * from "./kernels/deno_entry.ts";
export * from "./schedules/mod.ts";
export * from "./web/mod.ts";
