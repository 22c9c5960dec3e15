/**
 * A tiny byte-level BD3-LM model directory, written in-process (for the web tests, the load
 * test and the server's reliability figures): freshly initialised parameters whose output layer
 * is given random weights, so predictions differ between positions and the stream is varied.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { modelConfig, type ModelConfigInit } from "@blockdiff/model/io";
import { saveModelDir } from "@blockdiff/model/deno";
import { ParamSet, randomizeOutputLayer } from "@blockdiff/model";

/** Writes a tiny model (byte tokenizer, L = 32, b = 4 unless overridden) to `dir`. */
export async function writeTinyModelDir(
  gpu: Gpu,
  dir: string,
  overrides: ModelConfigInit = {},
  seed = 1,
): Promise<void> {
  const config = modelConfig({
    size: "micro",
    vocab: 260,
    hidden: 32,
    heads: 2,
    blocks: 1,
    condDim: 16,
    length: 32,
    blockSize: 4,
    dropout: 0,
    ...overrides,
  });
  using params = ParamSet.init(gpu, config, seed);
  const tensors = await params.toHost();
  randomizeOutputLayer(tensors, seed + 100, 0.8);
  // The byte tokenizer's ids: mask 259 (see ByteTokenizer).
  await saveModelDir(dir, config, tensors, { tokenizer: "bytes", maskId: 259, algo: config.algo });
}
