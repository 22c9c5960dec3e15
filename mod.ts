/**
 * @module
 * blockdiff: block diffusion language models (BD3-LM) on WebGPU.
 *
 * What a user needs to acquire a GPU, load a model directory or a Hugging Face checkpoint,
 * tokenize, sample, train, evaluate and serve. Kernels, web internals and test helpers stay
 * in their members (`@blockdiff/kernels`, `@blockdiff/web`, the `./testing` entries).
 *
 * @example Sample from the bundled model (runs on any adapter, lavapipe included)
 * ```ts
 * import { acquireGpu, Dit, generate, loadModelDir, loadTokenizer, ParamSet } from "./mod.ts";
 * using session = await acquireGpu();
 * const dir = await loadModelDir("models/bundled");
 * const tokenizer = await loadTokenizer(dir.meta.tokenizer);
 * using params = ParamSet.fromHost(session.gpu, dir.config, dir.tensors);
 * using model = new Dit(session.gpu, params);
 * const out = await generate(model, tokenizer, { prompt: "The", length: 32 });
 * console.log(out.texts[0]);
 * ```
 */
// Runtime and device acquisition.
export {
  BlockdiffError,
  DeviceLostError,
  Gpu,
  KernelError,
  NoAdapterError,
  ShapeError,
  Tensor,
} from "./core/mod.ts";
export { acquireGpu, type AcquireOptions, type GpuSession } from "./core/deno_entry.ts";
// Tokenizers and training data.
export {
  ByteTokenizer,
  type ChunkSet,
  loadHfTokenizer,
  loadTokenizer,
  type Tokenizer,
  TOKENIZER_NAMES,
  tokenizerFromHfJson,
} from "./data/mod.ts";
export { loadChunks } from "./data/deno.ts";
// Models and checkpoints.
export { Dit, type ModelConfig, modelConfig, ParamSet } from "./model/mod.ts";
export {
  type HfCheckpoint,
  loadHfCheckpoint,
  loadModelDir,
  type ModelDir,
  saveHfCheckpoint,
  saveModelDir,
} from "./model/deno.ts";
// Sampling.
export { generate, type GenerateOptions, type GenerateResult } from "./sampling/mod.ts";
// Training.
export {
  constantWarmup,
  cosineWarmup,
  type StepMetrics,
  Trainer,
  type TrainerOptions,
} from "./train/mod.ts";
// Evaluation.
export {
  generativePerplexity,
  type PerplexityResult,
  testPerplexity,
  zeroShotPerplexity,
} from "./eval/mod.ts";
// Noise schedules.
export { type NoiseSchedule, SCHEDULE_NAMES, scheduleByName } from "./schedules/mod.ts";
// Serving.
export { type AppOptions, type BlockdiffApp, createApp } from "./web/mod.ts";
