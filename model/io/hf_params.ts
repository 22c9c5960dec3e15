/**
 * The state-dict keys and shapes of the DiT backbone in the Hugging Face naming, and
 * the mapping from Lightning `.ckpt` keys and EMA lists (docs/design.md, "Checkpoint layout").
 * Linear weights are PyTorch-style `[out, in]`.
 * @module
 */
import { ConfigError } from "./errors.ts";
import type { HostTensor, TensorMap } from "./host_tensor.ts";
import { formatShape } from "@blockdiff/core";
import type { ModelConfig } from "./model_config.ts";

/** One named tensor of the model and its shape. */
export interface ParamSpec {
  /** HF state-dict key, e.g. `backbone.blocks.0.attn_qkv.weight`. */
  key: string;
  /** Shape, outermost first (`[]` for a 0-d buffer). */
  shape: number[];
}

/** A state-dict entry: a trainable parameter or a buffer. */
export interface StateEntry extends ParamSpec {
  /** `parameter` (trained, in `parameters()` order) or `buffer` (derived or learned scalar). */
  kind: "parameter" | "buffer";
  /** Buffers may be absent from a file: `inv_freq` is recomputed, eps defaults to the config. */
  optional: boolean;
}

/** Width of the sinusoidal time features fed to `sigma_map` (hard-coded in the reference). */
export const TIME_FREQ_DIM = 256;

/**
 * The trainable parameters of the backbone, in PyTorch `parameters()` order (which is also the
 * order of the EMA `shadow_params` list). AR models without adaLN have no `sigma_map.*` and no
 * `adaLN_modulation.*`.
 *
 * @example
 * ```ts
 * import { expectedParameters, modelConfig } from "@blockdiff/model/io";
 * const keys = expectedParameters(modelConfig({ size: "small" })).map((p) => p.key);
 * console.log(keys.length); // 130
 * ```
 */
export function expectedParameters(c: ModelConfig): ParamSpec[] {
  const d = c.hidden, v = c.vocab, cd = c.condDim;
  const out: ParamSpec[] = [{ key: "backbone.vocab_embed.embedding", shape: [v, d] }];
  if (c.adaln) {
    out.push(
      { key: "backbone.sigma_map.mlp.0.weight", shape: [cd, TIME_FREQ_DIM] },
      { key: "backbone.sigma_map.mlp.0.bias", shape: [cd] },
      { key: "backbone.sigma_map.mlp.2.weight", shape: [cd, cd] },
      { key: "backbone.sigma_map.mlp.2.bias", shape: [cd] },
    );
  }
  for (let i = 0; i < c.blocks; i++) {
    const p = `backbone.blocks.${i}.`;
    out.push(
      { key: p + "norm1.weight", shape: [d] },
      { key: p + "attn_qkv.weight", shape: [3 * d, d] },
      { key: p + "attn_out.weight", shape: [d, d] },
      { key: p + "norm2.weight", shape: [d] },
      { key: p + "mlp.0.weight", shape: [4 * d, d] },
      { key: p + "mlp.0.bias", shape: [4 * d] },
      { key: p + "mlp.2.weight", shape: [d, 4 * d] },
      { key: p + "mlp.2.bias", shape: [d] },
    );
    if (c.adaln) {
      out.push(
        { key: p + "adaLN_modulation.weight", shape: [6 * d, cd] },
        { key: p + "adaLN_modulation.bias", shape: [6 * d] },
      );
    }
  }
  out.push(
    { key: "backbone.output_layer.norm_final.weight", shape: [d] },
    { key: "backbone.output_layer.linear.weight", shape: [v, d] },
    { key: "backbone.output_layer.linear.bias", shape: [v] },
  );
  if (c.adaln) {
    out.push(
      { key: "backbone.output_layer.adaLN_modulation.weight", shape: [2 * d, cd] },
      { key: "backbone.output_layer.adaLN_modulation.bias", shape: [2 * d] },
    );
  }
  return out;
}

/** Key of the rotary `inv_freq` buffer. */
export const INV_FREQ_KEY = "backbone.rotary_emb.inv_freq";
/** Keys of the learned clipped-schedule buffers (present when `varMin`). */
export const SAMPLING_EPS_KEYS = ["sampling_eps_min", "sampling_eps_max"] as const;

/**
 * The full HF state dict: parameters plus the buffers `backbone.rotary_emb.inv_freq` ([D/2]) and,
 * when `varMin`, the 0-d `sampling_eps_min` / `sampling_eps_max`; in the reference's state-dict
 * order.
 */
export function expectedStateDict(c: ModelConfig): StateEntry[] {
  const params = expectedParameters(c).map((p): StateEntry => ({
    ...p,
    kind: "parameter",
    optional: false,
  }));
  const firstBlock = params.findIndex((p) => p.key.startsWith("backbone.blocks."));
  const invFreq: StateEntry = {
    key: INV_FREQ_KEY,
    shape: [c.hidden / c.heads / 2],
    kind: "buffer",
    optional: true,
  };
  const out = [...params.slice(0, firstBlock), invFreq, ...params.slice(firstBlock)];
  if (c.varMin) {
    for (const key of SAMPLING_EPS_KEYS) {
      out.push({ key, shape: [], kind: "buffer", optional: true });
    }
  }
  return out;
}

/** Number of trainable parameters (e.g. 169,627,218 for the small GPT-2 BD3-LM). */
export function parameterCount(c: ModelConfig): number {
  let n = 0;
  for (const p of expectedParameters(c)) n += p.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** The rotary `inv_freq` buffer, `1 / 10000^(2j/D)` computed in f32 as the reference does. */
export function inverseFrequencyBuffer(c: ModelConfig): Float32Array {
  const dh = c.hidden / c.heads;
  const out = new Float32Array(dh / 2);
  for (let j = 0; j < out.length; j++) out[j] = 1 / Math.fround(10000 ** Math.fround((2 * j) / dh));
  return out;
}

/**
 * Maps a Lightning `.ckpt` `state_dict` key to the HF key: removes every `_orig_mod.` (left by
 * `torch.compile`) and turns the `hf_dit` prefix `backbone.backbone.` into `backbone.`. With the
 * `dit` backbone the names are already the HF names.
 */
export function lightningKeyToHf(key: string): string {
  const k = key.replaceAll("_orig_mod.", "");
  return k.startsWith("backbone.backbone.") ? k.slice("backbone.".length) : k;
}

/** Maps a HF key to the Lightning `state_dict` key of a `dit` (default) or `hf_dit` backbone. */
export function hfKeyToLightning(key: string, backbone: "dit" | "hf_dit" = "dit"): string {
  return backbone === "hf_dit" && key.startsWith("backbone.") ? "backbone." + key : key;
}

/**
 * Names the tensors of a Lightning EMA `shadow_params` list (which is in `parameters()` order,
 * buffers excluded), checking the count and every shape. Released HF weights are these EMA
 * tensors (`push_to_hf.py`).
 */
export function emaShadowToHf(c: ModelConfig, shadow: readonly HostTensor[]): TensorMap {
  const params = expectedParameters(c);
  if (shadow.length !== params.length) {
    throw new ConfigError(
      `EMA shadow_params has ${shadow.length} tensors, the model has ${params.length} parameters`,
    );
  }
  const out: TensorMap = new Map();
  params.forEach((p, i) => {
    const t = shadow[i];
    if (t.shape.length !== p.shape.length || t.shape.some((s, j) => s !== p.shape[j])) {
      throw new ConfigError(
        `EMA shadow_params[${i}] ("${p.key}") has shape ${formatShape(t.shape)}, ` +
          `expected ${formatShape(p.shape)}`,
      );
    }
    out.set(p.key, t);
  });
  return out;
}
