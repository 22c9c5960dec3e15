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
 * import {
 *   acquireGpu,
 *   Dit,
 *   generate,
 *   loadModelDir,
 *   loadTokenizer,
 *   modelTokenizerName,
 *   ParamSet,
 * } from "./mod.ts";
 * using session = await acquireGpu();
 * const dir = await loadModelDir("models/bundled");
 * const tokenizer = await loadTokenizer(modelTokenizerName(dir));
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
  modelTokenizerName,
  saveHfCheckpoint,
  saveModelDir,
  type SaveModelDirOptions,
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
export { type AppOptions, type BlockdiffApp, createApp, type ModelSource } from "./web/mod.ts";

// Types the API above mentions (parameters, results, fields), so its documentation is whole.
export type {
  Bindable,
  BufferPool,
  DType,
  GpuFeatures,
  GpuInfo,
  Graph,
  Kernel,
  KernelSpec,
  KernelTime,
  Param,
  Var,
} from "./core/mod.ts";
export type { KvCache, RotaryTable } from "./kernels/mod.ts";
export type {
  AdaptiveBlockOptions,
  ClipInterval,
  EntropyStopOptions,
  StepEvent,
} from "./schedules/mod.ts";
export type { BatchIterator, DecodeOptions, HfTokenizerOptions, WrapIds } from "./data/mod.ts";
export type { ChunkOptions, Source } from "./data/deno.ts";
export type {
  Algo,
  ForwardInput,
  ForwardMode,
  HfBd3lmConfig,
  JsonValue,
  ModelConfigInit,
  TensorMap,
  TensorsInput,
} from "./model/mod.ts";
export type { ModelMeta, TrainingState } from "./model/deno.ts";
export type { InnerKind } from "./sampling/mod.ts";
export type { LrSchedule, TokenBatch } from "./train/mod.ts";
export type { GenPplResult, PerplexityOptions, Scorer, ZeroShotOptions } from "./eval/mod.ts";
export type { ModelRegistry, ServerLimits } from "./web/mod.ts";
export type { AttentionArgs, AttentionOperand } from "./kernels/mod.ts";
export type { Batch, BatchState } from "./data/mod.ts";
export type { BindingKind, KernelParam, PoolStats } from "./core/mod.ts";
export type { HostTensor } from "./model/mod.ts";
export type { LoadedModel, ModelInfo } from "./web/mod.ts";
export { MODEL_SIZES } from "./model/mod.ts";
export type { TokenizeOptions } from "./data/deno.ts";
export type { AttentionMask, AttentionVariant } from "./kernels/mod.ts";
export type { HostDtype, HostTensorData } from "./model/mod.ts";
export type { Split, SplitFractions } from "./data/mod.ts";
export type { TokenCache } from "./data/deno.ts";
export type { BlockSpec } from "./kernels/mod.ts";
export type { CacheManifest, CacheWriteOptions } from "./data/deno.ts";
export type { BlockTable } from "./kernels/mod.ts";
