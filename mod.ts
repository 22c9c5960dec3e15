/**
 * @module
 * blockdiff: block diffusion language models (BD3-LM) on WebGPU.
 *
 * The public API of every workspace member: the GPU runtime and tensors (`@blockdiff/core`),
 * device acquisition in Deno (`@blockdiff/core/deno`), the WGSL kernels (`@blockdiff/kernels`)
 * and the web app (`@blockdiff/web`).
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
export * from "./kernels/mod.ts";
export * from "./web/mod.ts";
