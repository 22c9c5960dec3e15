/**
 * @module
 * blockdiff's WGSL kernel library: one launcher per op, each checked against a float64 CPU
 * reference. Launchers record work on the tensor's `Gpu` and return new tensors.
 */
export * from "./residual/residual.ts";
