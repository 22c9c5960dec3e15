/**
 * The DiT's parameters: creation with the reference's initialisation (docs/design.md,
 * "Initialisation"), and conversion from / to host tensors in the Hugging Face key layout
 * (docs/design.md, "Checkpoint layout"), so checkpoints load by name and shape.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { Tensor } from "@blockdiff/core";
import { Param } from "@blockdiff/core";
import { expectedParameters, type ParamSpec } from "../io/hf_params.ts";
import type { ModelConfig } from "../io/model_config.ts";
import type { HostTensor, TensorMap } from "../io/host_tensor.ts";
import { ShapeError } from "@blockdiff/core";
import { philoxUniformRef } from "@blockdiff/kernels";

/** How a parameter is initialised (docs/design.md, "Initialisation"). */
export function initKind(key: string): "embedding" | "zero" | "one" | "linear" {
  if (key.endsWith("vocab_embed.embedding")) return "embedding";
  if (key.includes("adaLN_modulation") || key.includes("output_layer.linear")) return "zero";
  if (/norm\d?\.weight$|norm_final\.weight$/.test(key)) return "one";
  return "linear";
}

/** The fan-in PyTorch uses for a parameter's default uniform bound (a bias uses its weight's). */
function fanIn(spec: ParamSpec, all: Map<string, ParamSpec>): number {
  if (spec.shape.length === 2) return spec.shape[1];
  const weight = all.get(spec.key.replace(/\.bias$/, ".weight"));
  if (!weight) throw new Error(`no weight for bias ${spec.key}`);
  return weight.shape[1];
}

/** Host values of one parameter initialised as the reference does, from a Philox stream. */
export function initialValues(
  spec: ParamSpec,
  all: Map<string, ParamSpec>,
  seed: number,
  index: number,
): Float32Array {
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const kind = initKind(spec.key);
  if (kind === "zero") return new Float32Array(n);
  if (kind === "one") return new Float32Array(n).fill(1);
  // Kaiming-uniform with a = √5 on [V, d] and PyTorch's Linear default both give U(−1/√fan_in, 1/√fan_in).
  const bound = 1 / Math.sqrt(kind === "embedding" ? spec.shape[1] : fanIn(spec, all));
  const u = philoxUniformRef(n, [seed >>> 0, 0], [index, 0x1417]);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * u[i] - 1) * bound;
  return out;
}

/** A model's parameters, by Hugging Face key, in `expectedParameters` order. */
export class ParamSet implements Disposable {
  /** The configuration the parameters are shaped for. */
  readonly config: ModelConfig;
  /** The parameters in `expectedParameters` order. */
  readonly list: readonly Param[];
  readonly #byName: Map<string, Param>;

  /** Wraps `list` (taking ownership) and indexes it by name. */
  constructor(config: ModelConfig, list: Param[]) {
    this.config = config;
    this.list = list;
    this.#byName = new Map(list.map((p) => [p.name, p]));
  }

  /** The parameter with this key; throws naming the key when absent. */
  get(key: string): Param {
    const p = this.#byName.get(key);
    if (!p) throw new ShapeError(`model has no parameter "${key}"`);
    return p;
  }

  /** The parameter with this key, or null (adaLN parameters of an AR model). */
  maybe(key: string): Param | null {
    return this.#byName.get(key) ?? null;
  }

  /** Total number of scalars. */
  get count(): number {
    return this.list.reduce((s, p) => s + p.value.size, 0);
  }

  /** Freshly initialised parameters, reproducible from `seed`. */
  static init(gpu: Gpu, config: ModelConfig, seed = 0): ParamSet {
    const specs = expectedParameters(config);
    const all = new Map(specs.map((s) => [s.key, s]));
    const list = specs.map((s, i) =>
      new Param(s.key, Tensor.from(gpu, initialValues(s, all, seed, i), s.shape))
    );
    return new ParamSet(config, list);
  }

  /** Parameters from host tensors (a loaded checkpoint); every key and shape is checked. */
  static fromHost(
    gpu: Gpu,
    config: ModelConfig,
    tensors: TensorMap,
    what = "checkpoint",
  ): ParamSet {
    const specs = expectedParameters(config);
    const problems: string[] = [];
    for (const s of specs) {
      const t = tensors.get(s.key);
      if (!t) problems.push(`missing "${s.key}"`);
      else if (t.dtype !== "f32") problems.push(`"${s.key}" has dtype ${t.dtype}, expected f32`);
      else if (t.shape.join(",") !== s.shape.join(",")) {
        problems.push(`"${s.key}" has shape [${t.shape}], expected [${s.shape}]`);
      }
    }
    if (problems.length) {
      throw new ShapeError(`${what}: ${problems.slice(0, 12).join("; ")}`);
    }
    const list = specs.map((s) =>
      new Param(s.key, Tensor.from(gpu, tensors.get(s.key)!.data as Float32Array, s.shape))
    );
    return new ParamSet(config, list);
  }

  /** Reads every parameter back to host tensors (for checkpoints and export). */
  async toHost(): Promise<TensorMap> {
    const out: TensorMap = new Map();
    for (const p of this.list) {
      const data = await p.value.readFloat();
      out.set(
        p.name,
        { dtype: "f32", shape: [...p.shape], data: new Float32Array(data) } as HostTensor,
      );
    }
    return out;
  }

  /** Releases every parameter and gradient buffer. */
  /** Releases every parameter's tensors. */
  dispose(): void {
    for (const p of this.list) p.dispose();
  }

  /** Same as {@link ParamSet.dispose}, for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
