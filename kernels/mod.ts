/**
 * @module
 * blockdiff's WGSL kernel library: one launcher per op, each checked against a float64 CPU
 * reference. Launchers record work on the tensor's `Gpu` and return new tensors.
 */
export * from "./residual/residual.ts";
export * from "./softmax/softmax.ts";
export * from "./log_softmax/log_softmax.ts";
export * from "./reduce/reduce.ts";
export * from "./philox/philox.ts";
export * from "./philox/bernoulli_mask.ts";
export * from "./activation/activation.ts";
export * from "./embedding/embedding.ts";
export * from "./layer_norm/layer_norm.ts";
// Only the public API: the chunk helpers stay internal to the kernels that share them.
export { type ModChunk, modulate } from "./modulate/modulate.ts";
export * from "./rotary/rotary.ts";
export * from "./matmul/matmul.ts";
export * from "./matmul/tuning.ts";
export * from "./log_softmax/log_softmax_backward.ts";
export * from "./sedd_loss/sedd_loss.ts";
export * from "./embedding/embedding_backward.ts";
export * from "./dropout/dropout.ts";
export * from "./adamw/adamw.ts";
export * from "./grad_norm/grad_norm.ts";
export * from "./ema/ema.ts";
export * from "./attention/attention.ts";
export * from "./attention/tuning.ts";
export * from "./kv_cache/kv_cache.ts";
// Backward kernels of LayerNorm, modulate, rotary, activations and residual, and the column
// sums behind parameter gradients (columnSums / gradientChunks stay internal).
export {
  batchColSum,
  type BatchColSumOptions,
  colSum,
  type ColSumOptions,
} from "./col_sum/col_sum.ts";
export * from "./layer_norm/layer_norm_backward.ts";
export {
  modulateBackward,
  type ModulateBackwardOptions,
  type ModulateGrads,
} from "./modulate/modulate_backward.ts";
export * from "./rotary/rotary_backward.ts";
export * from "./activation/activation_backward.ts";
export * from "./residual/residual_backward.ts";
export * from "./self_check.ts";
export { philoxBitsRef, philoxUniformRef } from "./philox/philox_ref.ts";
export { attentionRef, type HostOperand, type RefShape } from "./attention/attention_ref.ts";
export {
  attentionBackwardRef,
  type AttentionGradsRef,
} from "./attention/attention_backward_ref.ts";
export * from "./attention/attention_backward.ts";
export * from "./sample_draw/sample_draw.ts";
// Types of `@blockdiff/core` that this API takes or returns, so its documentation is whole.
export type * from "@blockdiff/core";
