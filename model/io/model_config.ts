/**
 * Our side's model configuration: the DiT backbone sizes plus the algorithm-level fields that
 * decide which parameters exist (docs/design.md, "Backbone"). Converted to and from the Hugging
 * Face `BD3LMConfig` in `hf_config.ts`.
 * @module
 */
import { ConfigError } from "./errors.ts";

/** Training / sampling algorithm; `ar` is the causal baseline without adaLN. */
export type Algo = "bd3lm" | "mdlm" | "sedd" | "ar";

/** All algorithms, in a stable order. */
export const ALGOS: readonly Algo[] = ["bd3lm", "mdlm", "sedd", "ar"];

/** Backbone + algorithm configuration of one model. */
export interface ModelConfig {
  /** Algorithm the weights were trained for. */
  algo: Algo;
  /** Vocabulary size V including the mask token (50258 for GPT-2, 30522 for BERT). */
  vocab: number;
  /** Hidden width d. */
  hidden: number;
  /** Attention heads H (d / H must be even, for rotary). */
  heads: number;
  /** Number of transformer blocks. */
  blocks: number;
  /** Conditioning width c (output of the sigma embedder). */
  condDim: number;
  /** Context length L. */
  length: number;
  /** Block size b; must divide `length` (b = L for MDLM-style models). */
  blockSize: number;
  /**
   * Whether the blocks and the output layer have adaLN modulation (and the model a `sigma_map`).
   * Always true for bd3lm / mdlm / sedd (the reference forces it); false for ar by default.
   */
  adaln: boolean;
  /** Whether the real σ is fed to the embedder (true exactly for sedd; otherwise σ = 0). */
  timeConditioning: boolean;
  /** Dropout probability on the residual branches during training. */
  dropout: number;
  /** Whether the model carries the learned clipped-schedule buffers (`sampling_eps_min/max`). */
  varMin: boolean;
  /** Lower end of the noise interval [β, ω] used when no buffer is stored. */
  samplingEpsMin: number;
  /** Upper end of the noise interval [β, ω] used when no buffer is stored. */
  samplingEpsMax: number;
  /** Reference attention backend name (`"sdpa"`, `"flex"`, `"flash_attn"`); informational. */
  attnBackend: string;
}

/** Backbone sizes of the reference's model configs. */
export const MODEL_SIZES: Readonly<
  Record<
    "micro" | "tiny" | "small" | "medium",
    Pick<ModelConfig, "hidden" | "condDim" | "blocks" | "heads">
  >
> = {
  // micro is blockdiff's own size for tests and CPU demos; the others are the reference's.
  micro: { hidden: 64, condDim: 32, blocks: 2, heads: 4 },
  tiny: { hidden: 256, condDim: 64, blocks: 8, heads: 8 },
  small: { hidden: 768, condDim: 128, blocks: 12, heads: 12 },
  medium: { hidden: 1024, condDim: 128, blocks: 24, heads: 16 },
};

/** Fields accepted by {@linkcode modelConfig}: any subset, plus a named size. */
export type ModelConfigInit = Partial<ModelConfig> & { size?: keyof typeof MODEL_SIZES };

/**
 * Builds a validated {@linkcode ModelConfig} from a size preset (default `small`) and overrides.
 * Algorithm-dependent defaults follow the paper's appendix: adaLN unless `ar`, time conditioning
 * only for
 * `sedd`, `varMin` only for `bd3lm`; `blockSize` defaults to `length`.
 *
 * @example
 * ```ts
 * import { modelConfig } from "@blockdiff/model/io";
 * const c = modelConfig({ size: "tiny", algo: "bd3lm", blockSize: 4 });
 * console.log(c.hidden, c.adaln); // 256 true
 * ```
 */
export function modelConfig(init: ModelConfigInit = {}): ModelConfig {
  const { size = "small", ...rest } = init;
  const sizes = MODEL_SIZES[size];
  if (!sizes) throw new ConfigError(`unknown model size ${JSON.stringify(size)}`);
  const algo = rest.algo ?? "bd3lm";
  const length = rest.length ?? 1024;
  return validateModelConfig({
    algo,
    vocab: 50258,
    ...sizes,
    length,
    blockSize: length,
    adaln: algo !== "ar",
    timeConditioning: algo === "sedd",
    dropout: 0.1,
    varMin: algo === "bd3lm",
    samplingEpsMin: 1e-3,
    samplingEpsMax: 1,
    attnBackend: "sdpa",
    ...rest,
  });
}

function positiveInt(label: string, name: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
    throw new ConfigError(`${label}: ${name} must be a positive integer, got ${JSON.stringify(v)}`);
  }
}

/**
 * Checks every field of `c` and the consistency rules of the reference (d divisible by H with an
 * even head dim, b divides L, adaLN for non-AR models, time conditioning for sedd and never for
 * ar, 0 ≤ β < ω ≤ 1). Returns `c`; throws {@linkcode ConfigError} prefixed with `label`.
 */
export function validateModelConfig(c: ModelConfig, label = "model config"): ModelConfig {
  if (!ALGOS.includes(c.algo)) {
    throw new ConfigError(`${label}: algo must be one of ${ALGOS.join(", ")}, got ${c.algo}`);
  }
  for (
    const k of ["vocab", "hidden", "heads", "blocks", "condDim", "length", "blockSize"] as const
  ) {
    positiveInt(label, k, c[k]);
  }
  for (const k of ["adaln", "timeConditioning", "varMin"] as const) {
    if (typeof c[k] !== "boolean") throw new ConfigError(`${label}: ${k} must be a boolean`);
  }
  if (c.hidden % c.heads !== 0 || (c.hidden / c.heads) % 2 !== 0) {
    throw new ConfigError(
      `${label}: hidden ${c.hidden} must split into ${c.heads} heads of an even width`,
    );
  }
  if (c.length % c.blockSize !== 0) {
    throw new ConfigError(`${label}: blockSize ${c.blockSize} does not divide length ${c.length}`);
  }
  if (c.algo !== "ar" && !c.adaln) {
    throw new ConfigError(`${label}: ${c.algo} models always have adaLN (adaln must be true)`);
  }
  if (c.algo === "sedd" && !c.timeConditioning) {
    throw new ConfigError(`${label}: sedd must be time-conditioned`);
  }
  if (c.algo === "ar" && c.timeConditioning) {
    throw new ConfigError(`${label}: ar must not be time-conditioned`);
  }
  if (typeof c.dropout !== "number" || !(c.dropout >= 0 && c.dropout < 1)) {
    throw new ConfigError(`${label}: dropout must be in [0, 1), got ${c.dropout}`);
  }
  const { samplingEpsMin: lo, samplingEpsMax: hi } = c;
  if (typeof lo !== "number" || typeof hi !== "number" || !(lo >= 0 && lo < hi && hi <= 1)) {
    throw new ConfigError(
      `${label}: need 0 <= samplingEpsMin < samplingEpsMax <= 1, got ${lo}, ${hi}`,
    );
  }
  if (typeof c.attnBackend !== "string") {
    throw new ConfigError(`${label}: attnBackend must be a string`);
  }
  return c;
}
