/**
 * PyTorch Lightning checkpoints of the reference (`.ckpt`, a `torch.save` zip): reading the
 * model configuration from the pickled Hydra config, the raw `state_dict` and the EMA
 * `shadow_params` (the weights the reference samples and evaluates with), and writing a
 * checkpoint the reference's `Diffusion.load_from_checkpoint` (`training.from_pretrained=`)
 * accepts and that `torch.load(path, weights_only=True)` reads.
 * @module
 */
import { CheckpointError, ConfigError } from "../errors.ts";
import { checkKeysAndShapes } from "../_validate.ts";
import {
  emaShadowToHf,
  expectedParameters,
  expectedStateDict,
  hfKeyToLightning,
  INV_FREQ_KEY,
  inverseFrequencyBuffer,
  lightningKeyToHf,
  SAMPLING_EPS_KEYS,
} from "../hf_params.ts";
import { f32Tensor, type HostTensor, type TensorMap } from "../host_tensor.ts";
import { type Algo, ALGOS, type ModelConfig, validateModelConfig } from "../model_config.ts";
import { configValue, omegaconfToPlain, type PlainValue } from "./omegaconf.ts";
import {
  encodeTorchSave,
  PyFloat,
  readTorchArchive,
  type TorchArchive,
  type TorchSaveValue,
  TorchTensor,
} from "./torch_archive.ts";
import type { UnpickleLimits } from "./unpickle.ts";

/** A Lightning checkpoint read into blockdiff's terms. */
export interface LightningCheckpoint {
  /** The model configuration (sizes checked against the tensors). */
  config: ModelConfig;
  /** The `state_dict` tensors under HF keys (parameters and buffers). */
  weights: TensorMap;
  /** The EMA weights under HF keys (parameters from `shadow_params`, buffers from `state_dict`), or null. */
  ema: TensorMap | null;
  /** EMA decay, when the checkpoint has an EMA. */
  emaDecay: number | null;
  /** `global_step`. */
  step: number;
  /** The Hydra config as plain values (null when the checkpoint has none). */
  hydra: PlainValue | null;
}

/** Fills in what a checkpoint's Hydra config lacks or overrides it. */
export interface LightningReadOptions extends UnpickleLimits {
  /** Algorithm, when the config is missing. */
  algo?: Algo;
  /** Block size b, when the config is missing. */
  blockSize?: number;
  /** Context length L, when the config is missing. */
  length?: number;
}

function asMap(v: unknown, what: string, name: string): Map<unknown, unknown> {
  if (!(v instanceof Map)) throw new CheckpointError(`${name}: ${what} is not a dict`);
  return v;
}

function scalar(a: TorchArchive, v: unknown, label: string): number | undefined {
  if (typeof v === "number") return v;
  if (v instanceof TorchTensor) {
    const t = a.tensor(v, label);
    if (t.data.length !== 1) throw new CheckpointError(`${a.name}: ${label} is not a scalar`);
    return Number(t.data[0]);
  }
  return undefined;
}

/** Reads the sizes the tensors themselves fix: vocabulary, width, depth, heads, adaLN. */
function sizesFromTensors(weights: TensorMap, name: string) {
  const emb = weights.get("backbone.vocab_embed.embedding");
  if (!emb || emb.shape.length !== 2) {
    throw new CheckpointError(
      `${name}: state_dict has no backbone.vocab_embed.embedding [V, d]; not a BD3-LM DiT checkpoint`,
    );
  }
  const [vocab, hidden] = emb.shape;
  let blocks = 0;
  while (weights.has(`backbone.blocks.${blocks}.norm1.weight`)) blocks++;
  const inv = weights.get(INV_FREQ_KEY);
  const sigma = weights.get("backbone.sigma_map.mlp.0.weight");
  return {
    vocab,
    hidden,
    blocks,
    heads: inv ? hidden / (2 * inv.shape[0]) : undefined,
    condDim: sigma?.shape[0],
    adaln: weights.has("backbone.blocks.0.adaLN_modulation.weight"),
  };
}

/**
 * Reads a Lightning `.ckpt` from `bytes` without running any of its pickle. The configuration
 * comes from `hyper_parameters.config` (the reference's Hydra config) checked against the
 * tensor shapes; `options` fill in a checkpoint without one. Throws {@linkcode CheckpointError}
 * for a malformed or hostile file and {@linkcode ConfigError} for a config that cannot be used.
 */
export function readLightningCheckpoint(
  bytes: Uint8Array,
  name: string,
  options: LightningReadOptions = {},
): LightningCheckpoint {
  const a = readTorchArchive(bytes, name, options);
  const root = asMap(a.root, "the checkpoint", name);
  const sd = asMap(root.get("state_dict"), "state_dict", name);
  const weights: TensorMap = new Map();
  for (const [k, v] of sd) {
    if (typeof k !== "string") {
      throw new CheckpointError(`${name}: a state_dict key is not a string`);
    }
    if (!(v instanceof TorchTensor)) {
      throw new CheckpointError(`${name}: state_dict["${k}"] is not a tensor`);
    }
    weights.set(lightningKeyToHf(k), a.tensor(v, k));
  }
  const hp = root.get("hyper_parameters");
  const hydra = hp instanceof Map && hp.has("config")
    ? omegaconfToPlain(hp.get("config"), name)
    : null;
  const cfg = (path: string) => (hydra === null ? undefined : configValue(hydra, path));
  const sizes = sizesFromTensors(weights, name);

  const algoName = options.algo ??
    (cfg("algo.parameterization") === "ar" ? "ar" : cfg("algo.name"));
  if (typeof algoName !== "string" || !ALGOS.includes(algoName as Algo)) {
    throw new ConfigError(
      `${name}: ${
        hydra === null
          ? "has no hyper_parameters.config"
          : `algo.name is ${JSON.stringify(algoName)}`
      }; ` +
        `pass --algo (${ALGOS.join(", ")})`,
    );
  }
  const algo = algoName as Algo;
  const backbone = cfg("algo.backbone");
  if (backbone !== undefined && backbone !== "dit" && backbone !== "hf_dit") {
    throw new ConfigError(
      `${name}: algo.backbone is ${JSON.stringify(backbone)}; only the DiT backbone converts`,
    );
  }
  const int = (path: string, given: number | undefined, fallback?: number): number => {
    const v = given ?? cfg(path) ?? fallback;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      const flag = path === "block_size" ? "--block-size" : "--length";
      throw new ConfigError(
        `${name}: ${path} is ${JSON.stringify(v ?? null)} in the checkpoint's config; pass ${flag}`,
      );
    }
    return v;
  };
  const length = int("model.length", options.length);
  const blockSize = int("block_size", options.blockSize, length);
  const heads = sizes.heads ?? cfg("model.n_heads");
  if (typeof heads !== "number" || !Number.isSafeInteger(heads)) {
    throw new ConfigError(
      `${name}: cannot tell the head count (no backbone.rotary_emb.inv_freq in state_dict and ` +
        `no model.n_heads in the config); the checkpoint is incomplete`,
    );
  }
  const bool = (path: string, fallback: boolean) => {
    const v = cfg(path);
    return typeof v === "boolean" ? v : fallback;
  };
  // The DiT is causal when the model (or, by default, the parameterization) says so, and
  // every non-causal DiT has adaLN whatever `model.adaln` says.
  const causal = bool("model.causal_attention", algo === "ar");
  const epsOf = (key: string, path: string, fallback: number) =>
    scalar(a, root.get(key), key) ??
      (weights.has(key) ? Number(weights.get(key)!.data[0]) : undefined) ??
      (typeof cfg(path) === "number" ? cfg(path) as number : fallback);
  const dropout = cfg("model.dropout");
  const attn = cfg("model.attn_backend");
  const config = validateModelConfig({
    algo,
    vocab: sizes.vocab,
    hidden: sizes.hidden,
    heads,
    blocks: sizes.blocks,
    condDim: sizes.condDim ?? (cfg("model.cond_dim") as number),
    length,
    blockSize,
    adaln: !causal || bool("model.adaln", false) || sizes.adaln,
    timeConditioning: bool("algo.time_conditioning", algo === "sedd"),
    dropout: typeof dropout === "number" ? dropout : 0.1,
    varMin: bool("algo.var_min", algo === "bd3lm"),
    samplingEpsMin: epsOf("sampling_eps_min", "training.sampling_eps_min", 1e-3),
    samplingEpsMax: epsOf("sampling_eps_max", "training.sampling_eps_max", 1),
    attnBackend: typeof attn === "string" ? attn : "flash_attn",
  }, `${name} (hyper_parameters.config)`);
  for (
    const [path, v] of [["model.hidden_size", config.hidden], [
      "model.n_blocks",
      config.blocks,
    ]] as const
  ) {
    const c = cfg(path);
    if (typeof c === "number" && c !== v) {
      throw new CheckpointError(
        `${name}: config ${path} is ${c} but the state_dict tensors say ${v}`,
      );
    }
  }
  // The reference registers sampling_eps_* on the Diffusion module, so they may sit in
  // state_dict even when the config says var_min is off; keep only what the model has.
  if (!config.varMin) {
    for (const k of SAMPLING_EPS_KEYS) weights.delete(k);
  } else {
    // The top-level values are what the reference's on_load_checkpoint applies (they
    // overwrite the buffers), so the buffers read here follow them.
    weights.set(SAMPLING_EPS_KEYS[0], f32Tensor([], [config.samplingEpsMin]));
    weights.set(SAMPLING_EPS_KEYS[1], f32Tensor([], [config.samplingEpsMax]));
  }
  const found = new Map([...weights].map(([k, t]) => [k, t.shape]));
  checkKeysAndShapes(
    `${name}: state_dict`,
    found,
    expectedStateDict(config),
    "the checkpoint's config",
  );

  let ema: TensorMap | null = null;
  let emaDecay: number | null = null;
  const e = root.get("ema");
  if (e instanceof Map && Array.isArray(e.get("shadow_params"))) {
    const shadow = (e.get("shadow_params") as unknown[]).map((t, i) => {
      if (!(t instanceof TorchTensor)) {
        throw new CheckpointError(`${name}: ema.shadow_params[${i}] is not a tensor`);
      }
      return a.tensor(t, `ema.shadow_params[${i}]`);
    });
    let named: TensorMap;
    try {
      named = emaShadowToHf(config, shadow);
    } catch (err) {
      throw new CheckpointError(`${name}: ${(err as Error).message}`);
    }
    ema = new Map();
    // State-dict order, with the buffers (not averaged) taken from state_dict.
    for (const s of expectedStateDict(config)) {
      const t = s.kind === "parameter" ? named.get(s.key) : weights.get(s.key);
      if (t) ema.set(s.key, t);
    }
    const d = e.get("decay");
    emaDecay = typeof d === "number" ? d : null;
  }
  const step = root.get("global_step");
  return {
    config,
    weights,
    ema,
    emaDecay,
    step: typeof step === "number" ? step : 0,
    hydra,
  };
}

/** What {@linkcode encodeLightningCheckpoint} writes. */
export interface LightningWriteInput {
  /** The model configuration. */
  config: ModelConfig;
  /** Training weights (HF keys, f32): become `state_dict`. */
  weights: TensorMap;
  /** EMA weights (HF keys): become `ema.shadow_params`; defaults to `weights`. */
  ema?: TensorMap | null;
  /** EMA decay (default 0.9999, the reference's `training.ema`). */
  emaDecay?: number;
  /** Optimizer steps taken (`global_step`). */
  step?: number;
  /** Backbone naming of the `state_dict` keys (default `dit`). */
  backbone?: "dit" | "hf_dit";
}

/** The reference's Hydra config keys that describe `config`, as plain values. */
function hydraConfig(c: ModelConfig, ema: number): { [k: string]: TorchSaveValue } {
  return {
    block_size: c.blockSize,
    model: {
      hidden_size: c.hidden,
      cond_dim: c.condDim,
      length: c.length,
      n_blocks: c.blocks,
      n_heads: c.heads,
      dropout: new PyFloat(c.dropout),
      adaln: c.adaln,
      attn_backend: c.attnBackend,
    },
    algo: {
      name: c.algo,
      backbone: "dit",
      parameterization: c.algo === "ar" ? "ar" : c.algo === "sedd" ? "sedd" : "subs",
      time_conditioning: c.timeConditioning,
      causal_attention: c.algo === "ar",
      cross_attn: c.algo === "bd3lm",
      var_min: c.varMin,
    },
    training: {
      ema: new PyFloat(ema),
      sampling_eps_min: new PyFloat(c.samplingEpsMin),
      sampling_eps_max: new PyFloat(c.samplingEpsMax),
    },
  };
}

/** The Lightning version recorded in written checkpoints (the reference's requirements pin). */
export const LIGHTNING_VERSION = "2.5.0.post0";

function progress(total: number, keys: readonly string[]) {
  const of = (n: number) => Object.fromEntries(keys.map((k) => [k, n]));
  // `current` counts within the epoch the reference fast-forwards its data sampler to; our
  // data order is not the reference's, so a continued run starts its data from the beginning.
  return { total: of(total), current: of(0) };
}

/**
 * Encodes a Lightning checkpoint as `torch.save` zip chunks: `state_dict` (an OrderedDict of
 * every parameter and buffer), `ema` {decay, num_updates, shadow_params in `parameters()`
 * order}, `global_step`, the `loops.fit_loop` progress entries the reference's
 * `on_load_checkpoint` reads, and `sampling_eps_min/max` for var-min models. Only types
 * `torch.load(weights_only=True)` allows are written. Throws {@linkcode CheckpointError} when a
 * tensor is missing or misshapen.
 */
export function encodeLightningCheckpoint(input: LightningWriteInput): Uint8Array[] {
  const { config } = input;
  const step = input.step ?? 0;
  const backbone = input.backbone ?? "dit";
  const full = (m: TensorMap, what: string): TensorMap => {
    const out: TensorMap = new Map(m);
    if (!out.has(INV_FREQ_KEY)) {
      out.set(
        INV_FREQ_KEY,
        f32Tensor([config.hidden / config.heads / 2], inverseFrequencyBuffer(config)),
      );
    }
    const [lo, hi] = SAMPLING_EPS_KEYS;
    if (config.varMin) {
      if (!out.has(lo)) out.set(lo, f32Tensor([], [config.samplingEpsMin]));
      if (!out.has(hi)) out.set(hi, f32Tensor([], [config.samplingEpsMax]));
    } else {
      out.delete(lo);
      out.delete(hi);
    }
    const found = new Map([...out].map(([k, t]) => [k, t.shape]));
    checkKeysAndShapes(what, found, expectedStateDict(config), "the model config");
    for (const [k, t] of out) {
      if (t.dtype !== "f32") {
        throw new CheckpointError(`${what}: tensor "${k}" is ${t.dtype}, expected f32`);
      }
    }
    return out;
  };
  const weights = full(input.weights, "state_dict");
  const ema = full(input.ema ?? input.weights, "ema");
  const stateDict = new Map<string, TorchSaveValue>();
  for (const s of expectedStateDict(config)) {
    const t = weights.get(s.key);
    if (t) stateDict.set(hfKeyToLightning(s.key, backbone), t);
  }
  const shadow: HostTensor[] = expectedParameters(config).map((p) => ema.get(p.key)!);
  const fitLoop = {
    state_dict: {},
    "epoch_loop.state_dict": { _batches_that_stepped: step },
    "epoch_loop.batch_progress": {
      ...progress(step, ["ready", "started", "processed", "completed"]),
      is_last_batch: false,
    },
    "epoch_loop.scheduler_progress": progress(step, ["ready", "completed"]),
    "epoch_loop.automatic_optimization.optim_progress": {
      optimizer: {
        step: progress(step, ["ready", "completed"]),
        zero_grad: progress(step, ["ready", "started", "completed"]),
      },
    },
    "epoch_loop.manual_optimization.optim_step_progress": progress(0, ["ready", "completed"]),
    "epoch_loop.val_loop.state_dict": {},
    epoch_progress: progress(0, ["ready", "started", "processed", "completed"]),
  };
  const ckpt: { [k: string]: TorchSaveValue } = {
    epoch: 0,
    global_step: step,
    "pytorch-lightning_version": LIGHTNING_VERSION,
    state_dict: stateDict,
    loops: { fit_loop: fitLoop },
    ema: { decay: new PyFloat(input.emaDecay ?? 0.9999), num_updates: step, shadow_params: shadow },
    // Plain dicts, not an omegaconf DictConfig (weights_only refuses those): the reference
    // passes its own config to load_from_checkpoint, which wins; blockdiff reads this back.
    hyper_parameters: { config: hydraConfig(config, input.emaDecay ?? 0.9999) },
  };
  if (config.varMin) {
    ckpt.sampling_eps_min = weights.get(SAMPLING_EPS_KEYS[0])!;
    ckpt.sampling_eps_max = weights.get(SAMPLING_EPS_KEYS[1])!;
  }
  return encodeTorchSave(ckpt);
}
