/**
 * @module
 * blockdiff's core: the web-standard GPU runtime (pipeline cache, batching, pooled buffers)
 * and GPU tensors. Everything here runs on any `GPUDevice`, in Deno through Dawn or in a
 * browser. Device acquisition in Deno lives in `@blockdiff/core/deno`.
 *
 * @example
 * ```ts
 * import { acquireGpu } from "@blockdiff/core/deno";
 * import { Tensor } from "@blockdiff/core";
 * using session = await acquireGpu();
 * using x = Tensor.from(session.gpu, [1, 2, 3], [3]);
 * console.log(await x.read());
 * ```
 */
export * from "./gpu/errors.ts";
export * from "./gpu/runtime.ts";
export * from "./gpu/adapter.ts";
export * from "./gpu/pool.ts";
export * from "./gpu/wait.ts";
export * from "./gpu/half.ts";
export * from "./gpu/launch.ts";
export * from "./tensor.ts";
export * from "./random.ts";
export * from "./autograd/graph.ts";
