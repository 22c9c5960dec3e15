/**
 * Tiny random models for the sampling and evaluation tests. A fresh model has an all-zero
 * output layer (docs/design.md, "Initialisation"), so every logit would be 0; the output layer is
 * replaced by random weights to make predictions position- and context-dependent.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { type ModelConfig, modelConfig, type ModelConfigInit } from "@blockdiff/model";
import { Dit, ParamSet, randomizeOutputLayer } from "@blockdiff/model";

/** The tiny configuration of the tests, with overrides. */
export function tinyConfig(overrides: ModelConfigInit = {}): ModelConfig {
  return modelConfig({
    size: "tiny",
    vocab: 50,
    hidden: 32,
    heads: 4,
    blocks: 2,
    condDim: 16,
    length: 32,
    blockSize: 4,
    dropout: 0,
    ...overrides,
  });
}

/** A tiny model with a random output layer (scale sets how peaked its predictions are). */
export async function tinyModel(
  gpu: Gpu,
  overrides: ModelConfigInit = {},
  seed = 1,
  scale = 0.6,
): Promise<Dit> {
  const config = tinyConfig(overrides);
  using init = ParamSet.init(gpu, config, seed);
  const host = await init.toHost();
  randomizeOutputLayer(host, seed + 100, scale);
  return new Dit(gpu, ParamSet.fromHost(gpu, config, host));
}
