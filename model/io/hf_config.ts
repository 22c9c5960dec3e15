/**
 * The Hugging Face `config.json` of a BD3-LM repository (`BD3LMConfig`) and its
 * conversion to and from {@linkcode ModelConfig}. Readers ignore unknown keys (they are kept in
 * the parsed object) and fill missing keys with the `BD3LMConfig` constructor defaults.
 * @module
 */
import { isJsonObject, type JsonValue, parseBoundedJson } from "./_json.ts";
import { ConfigError } from "./errors.ts";
import { type Algo, type ModelConfig, validateModelConfig } from "./model_config.ts";

/** The fields of `BD3LMConfig` plus the standard `PretrainedConfig` keys the releases carry. */
export interface HfBd3lmConfig {
  /** Always `"bd3lm"`. */
  model_type: "bd3lm";
  /** Block size b. */
  block_size: number;
  /** Vocabulary size V (with the mask token). */
  vocab_size: number;
  /** Context length L. */
  model_length: number;
  /** Whether the block-diffusion `[x_t ; x0]` attention is used. */
  cross_attn: boolean;
  /** Whether adaLN modulation exists. */
  adaln: boolean;
  /** Attention backend (`"flex"` or `"sdpa"`). */
  attn_backend: string;
  /** Causal (AR) attention. */
  causal: boolean;
  /** Hidden width d. */
  hidden_dim: number;
  /** Conditioning width c. */
  cond_dim: number;
  /** Number of blocks. */
  n_blocks: number;
  /** Number of heads. */
  n_heads: number;
  /** Dropout probability. */
  dropout: number;
  /** Whether σ is fed to the embedder. */
  time_conditioning: boolean;
  /** Whether the model carries `sampling_eps_min/max` buffers. */
  var_min: boolean;
  /** Informational lower noise bound (the weight file's buffer is authoritative). */
  sampling_eps_min: number;
  /** Informational upper noise bound (the weight file's buffer is authoritative). */
  sampling_eps_max: number;
  /** `["BD3LM"]`. */
  architectures?: string[];
  /** Remote-code class map. */
  auto_map?: Record<string, string>;
  /** `false` in the releases: the model returns the logits tensor. */
  return_dict?: boolean;
  /** `"float32"` in the releases. */
  torch_dtype?: string;
  /** Version of transformers that wrote the file. */
  transformers_version?: string;
  /** Any other key found in the file (kept, not interpreted). */
  [extra: string]: JsonValue | undefined;
}

/** `BD3LMConfig` constructor defaults (note `cond_dim` 129, a quirk of the reference). */
export const HF_CONFIG_DEFAULTS: Readonly<
  Omit<HfBd3lmConfig, "architectures" | "auto_map" | "return_dict" | "torch_dtype">
> = {
  model_type: "bd3lm",
  block_size: 1,
  vocab_size: 50258,
  model_length: 1024,
  cross_attn: true,
  adaln: true,
  attn_backend: "flex",
  causal: false,
  hidden_dim: 768,
  cond_dim: 129,
  n_blocks: 12,
  n_heads: 12,
  dropout: 0.1,
  time_conditioning: false,
  var_min: true,
  sampling_eps_min: 1e-3,
  sampling_eps_max: 0.999,
};

/** The `auto_map` of the released repositories. */
export const HF_AUTO_MAP: Readonly<Record<string, string>> = {
  AutoConfig: "configuration_bd3lm.BD3LMConfig",
  AutoModelForMaskedLM: "modeling_bd3lm.BD3LM",
};

const INT_FIELDS = [
  "block_size",
  "vocab_size",
  "model_length",
  "hidden_dim",
  "cond_dim",
  "n_blocks",
  "n_heads",
] as const;
const BOOL_FIELDS = ["cross_attn", "adaln", "causal", "time_conditioning", "var_min"] as const;
const NUM_FIELDS = ["dropout", "sampling_eps_min", "sampling_eps_max"] as const;

/**
 * Parses the text of a `config.json`, type-checks the known fields and fills missing ones with
 * {@linkcode HF_CONFIG_DEFAULTS}. `name` labels errors (usually the file path).
 */
export function parseHfConfig(text: string, name = "config.json"): HfBd3lmConfig {
  let raw: JsonValue;
  try {
    raw = parseBoundedJson(text, { maxLength: 1_000_000, maxDepth: 16 });
  } catch (e) {
    throw new ConfigError(`${name}: ${(e as Error).message}`);
  }
  if (!isJsonObject(raw)) throw new ConfigError(`${name}: not a JSON object`);
  if (raw.model_type !== undefined && raw.model_type !== "bd3lm") {
    throw new ConfigError(
      `${name}: model_type is ${JSON.stringify(raw.model_type)}, expected "bd3lm"`,
    );
  }
  const out = { ...HF_CONFIG_DEFAULTS, ...raw } as HfBd3lmConfig;
  for (const k of INT_FIELDS) {
    const v = out[k];
    if (!Number.isSafeInteger(v) || v <= 0) {
      throw new ConfigError(`${name}: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
    }
  }
  for (const k of BOOL_FIELDS) {
    if (typeof out[k] !== "boolean") {
      throw new ConfigError(`${name}: ${k} must be true or false, got ${JSON.stringify(out[k])}`);
    }
  }
  for (const k of NUM_FIELDS) {
    if (typeof out[k] !== "number" || !Number.isFinite(out[k])) {
      throw new ConfigError(`${name}: ${k} must be a number, got ${JSON.stringify(out[k])}`);
    }
  }
  if (typeof out.attn_backend !== "string") {
    throw new ConfigError(`${name}: attn_backend must be a string`);
  }
  return out;
}

/**
 * The algorithm a HF config describes: `causal` → ar, else `time_conditioning` → sedd, else
 * `cross_attn` → bd3lm, else mdlm.
 */
export function inferAlgo(hf: HfBd3lmConfig): Algo {
  if (hf.causal) return "ar";
  if (hf.time_conditioning) return "sedd";
  return hf.cross_attn ? "bd3lm" : "mdlm";
}

/**
 * Converts a HF config to a validated {@linkcode ModelConfig}. The algorithm is inferred with
 * {@linkcode inferAlgo} unless given.
 */
export function fromHfConfig(
  hf: HfBd3lmConfig,
  options: { algo?: Algo; name?: string } = {},
): ModelConfig {
  return validateModelConfig({
    algo: options.algo ?? inferAlgo(hf),
    vocab: hf.vocab_size,
    hidden: hf.hidden_dim,
    heads: hf.n_heads,
    blocks: hf.n_blocks,
    condDim: hf.cond_dim,
    length: hf.model_length,
    blockSize: hf.block_size,
    adaln: hf.adaln,
    timeConditioning: hf.time_conditioning,
    dropout: hf.dropout,
    varMin: hf.var_min,
    samplingEpsMin: hf.sampling_eps_min,
    samplingEpsMax: hf.sampling_eps_max,
    attnBackend: hf.attn_backend,
  }, options.name ?? "config.json");
}

/**
 * Converts a {@linkcode ModelConfig} to a complete HF config with every `BD3LMConfig` field
 * written explicitly, plus the standard keys of the released files.
 */
export function toHfConfig(c: ModelConfig): HfBd3lmConfig {
  validateModelConfig(c);
  return {
    model_type: "bd3lm",
    architectures: ["BD3LM"],
    auto_map: { ...HF_AUTO_MAP },
    block_size: c.blockSize,
    vocab_size: c.vocab,
    model_length: c.length,
    cross_attn: c.algo === "bd3lm",
    adaln: c.adaln,
    attn_backend: c.attnBackend,
    causal: c.algo === "ar",
    hidden_dim: c.hidden,
    cond_dim: c.condDim,
    n_blocks: c.blocks,
    n_heads: c.heads,
    dropout: c.dropout,
    time_conditioning: c.timeConditioning,
    var_min: c.varMin,
    sampling_eps_min: c.samplingEpsMin,
    sampling_eps_max: c.samplingEpsMax,
    return_dict: false,
    torch_dtype: "float32",
    transformers_version: "4.49.0",
  };
}
