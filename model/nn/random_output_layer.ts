/**
 * Random output-layer weights for test and demo models. A freshly initialised DiT has an all-zero
 * output layer (as the reference initialises it), so every logit is 0 and every prediction is
 * uniform; drawing that layer at random makes predictions depend on position and context, which
 * is what sampling, streaming and evaluation tests need to see.
 * @module
 */
import { Rng } from "@blockdiff/core";
import type { TensorMap } from "../io/host_tensor.ts";

/** The output layer's weight and bias keys (Hugging Face BD3-LM layout). */
const OUTPUT_KEYS = ["backbone.output_layer.linear.weight", "backbone.output_layer.linear.bias"];

/**
 * Replaces the output layer of `tensors` (in place) with N(0, scale²) draws from `seed`;
 * `scale` sets how peaked the predictions are.
 */
export function randomizeOutputLayer(tensors: TensorMap, seed: number, scale: number): void {
  const rng = new Rng(seed);
  for (const key of OUTPUT_KEYS) {
    const t = tensors.get(key);
    if (!t) throw new RangeError(`randomizeOutputLayer: no tensor ${key}`);
    tensors.set(key, { ...t, data: rng.normals(t.data.length, scale) });
  }
}
