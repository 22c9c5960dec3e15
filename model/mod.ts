/**
 * @module
 * The BD3-LM model: the DiT backbone and its differentiable ops (`nn/`), and the formats it is
 * stored in (`io/`: safetensors, the Hugging Face layout, training checkpoints, model
 * directories).
 */
export * from "./nn/mod.ts";
export * from "./io/mod.ts";
// Types of the members this API builds on that its signatures take or return, so that
// its documentation is whole.
export type * from "@blockdiff/core";
export type * from "@blockdiff/kernels";
