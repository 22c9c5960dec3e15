/**
 * @module
 * The DiT backbone of BD3-LM and its differentiable ops: parameters in the Hugging Face key
 * layout, forward passes for every attention pattern, KV-cached block inference.
 */
export * from "./params.ts";
export * from "./dit.ts";
export * from "./ops.ts";
export * from "./graph.ts";
export * from "./random_output_layer.ts";
// The autograd tape lives in the runtime (@blockdiff/core).
