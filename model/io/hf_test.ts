import assert from "node:assert/strict";
import { join } from "node:path";
import { Rng } from "@blockdiff/core/testing";
import { CheckpointError, ConfigError } from "./errors.ts";
import { loadHfCheckpoint, saveHfCheckpoint } from "./hf_checkpoint.ts";
import { fromHfConfig, HF_CONFIG_DEFAULTS, parseHfConfig, toHfConfig } from "./hf_config.ts";
import {
  emaShadowToHf,
  expectedParameters,
  expectedStateDict,
  hfKeyToLightning,
  lightningKeyToHf,
  parameterCount,
} from "./hf_params.ts";
import { f32Tensor, type HostTensor, type TensorMap } from "./host_tensor.ts";
import { type ModelConfig, modelConfig } from "./model_config.ts";
import { writeSafetensors } from "./safetensors_save.ts";

const small = (init: Partial<ModelConfig> = {}) =>
  modelConfig({
    hidden: 16,
    heads: 2,
    blocks: 2,
    condDim: 8,
    vocab: 11,
    length: 8,
    blockSize: 4,
    ...init,
  });

function randomWeights(c: ModelConfig, rng: Rng): TensorMap {
  const out: TensorMap = new Map();
  for (const p of expectedParameters(c)) {
    const t = f32Tensor(p.shape);
    for (let i = 0; i < t.data.length; i++) (t.data as Float32Array)[i] = rng.next() - 0.5;
    out.set(p.key, t);
  }
  return out;
}

Deno.test("HF layout", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "blockdiff-hf-" });
  const rng = new Rng(11);
  try {
    await t.step("parameter counts match the reference", () => {
      assert.equal(parameterCount(modelConfig({ size: "tiny" })), 32_941_010);
      assert.equal(parameterCount(modelConfig({ size: "small" })), 169_627_218);
      assert.equal(parameterCount(modelConfig({ size: "medium" })), 424_477_010);
      assert.equal(parameterCount(modelConfig({ algo: "ar" })), 162_246_482);
      assert.equal(parameterCount(modelConfig({ vocab: 30522 })), 139_292_986);
      assert.equal(expectedParameters(modelConfig()).length, 130);
    });

    await t.step("key names and shapes of the reference's state dict", () => {
      const c = modelConfig({ blocks: 1 });
      const sd = new Map(expectedStateDict(c).map((e) => [e.key, e.shape]));
      assert.deepEqual(sd.get("backbone.vocab_embed.embedding"), [50258, 768]);
      assert.deepEqual(sd.get("backbone.sigma_map.mlp.0.weight"), [128, 256]);
      assert.deepEqual(sd.get("backbone.rotary_emb.inv_freq"), [32]);
      assert.deepEqual(sd.get("backbone.blocks.0.attn_qkv.weight"), [2304, 768]);
      assert.deepEqual(sd.get("backbone.blocks.0.mlp.2.weight"), [768, 3072]);
      assert.deepEqual(sd.get("backbone.blocks.0.adaLN_modulation.weight"), [4608, 128]);
      assert.deepEqual(sd.get("backbone.output_layer.adaLN_modulation.bias"), [1536]);
      assert.deepEqual(sd.get("sampling_eps_min"), []);
      assert.equal(sd.size, 23);
      const ar = expectedParameters(modelConfig({ algo: "ar" })).map((p) => p.key);
      assert.ok(!ar.some((k) => k.includes("adaLN") || k.includes("sigma_map")));
    });

    await t.step("config.json conversion both ways", () => {
      for (const algo of ["bd3lm", "mdlm", "sedd", "ar"] as const) {
        const c = small({ algo });
        const hf = toHfConfig(c);
        assert.equal(hf.model_type, "bd3lm");
        assert.deepEqual(hf.architectures, ["BD3LM"]);
        assert.equal(hf.return_dict, false);
        assert.deepEqual(fromHfConfig(parseHfConfig(JSON.stringify(hf))), c);
      }
      const released = parseHfConfig(JSON.stringify({
        block_size: 16,
        cond_dim: 128,
        attn_backend: "sdpa",
        sampling_eps_min: 0.001,
        future_field: { x: 1 },
      }));
      assert.equal(released.adaln, true);
      assert.equal(released.future_field !== undefined, true);
      const c = fromHfConfig(released);
      assert.equal(c.algo, "bd3lm");
      assert.equal(c.blockSize, 16);
      assert.equal(parameterCount(c), 169_627_218);
      assert.equal(parseHfConfig("{}").cond_dim, HF_CONFIG_DEFAULTS.cond_dim);
      assert.throws(
        () => parseHfConfig('{"n_heads": -1}', "x/config.json"),
        /x\/config.json: n_heads/,
      );
      assert.throws(() => parseHfConfig('{"model_type": "llama"}'), ConfigError);
      assert.throws(() => parseHfConfig("{"), /not valid JSON/);
      assert.throws(
        () => fromHfConfig(parseHfConfig('{"hidden_dim": 10, "n_heads": 4}'), { name: "c.json" }),
        /c\.json: hidden 10 must split into 4 heads/,
      );
      assert.throws(
        () => fromHfConfig(parseHfConfig('{"model_length": 10, "block_size": 4}')),
        /blockSize 4 does not divide length 10/,
      );
    });

    await t.step("save then load round trip with every key", async () => {
      for (const algo of ["bd3lm", "ar"] as const) {
        const c = small({ algo });
        const w = randomWeights(c, rng);
        const out = join(dir, `rt-${algo}`);
        await saveHfCheckpoint(out, c, w);
        const ck = await loadHfCheckpoint(out);
        assert.deepEqual(ck.config, c);
        const keys = expectedStateDict(c).map((e) => e.key);
        assert.deepEqual([...ck.tensors.keys()].sort(), [...keys].sort());
        for (const [k, v] of w) assert.deepEqual(ck.tensors.get(k)!.data, v.data, k);
        const inv = ck.tensors.get("backbone.rotary_emb.inv_freq")!.data as Float32Array;
        assert.equal(inv[0], 1);
        assert.ok(Math.abs(inv[1] - 1 / 10000 ** (2 / 8)) < 1e-7);
      }
    });

    await t.step("stored sampling_eps buffers override the config", async () => {
      const c = small();
      const w = randomWeights(c, rng);
      w.set("sampling_eps_min", f32Tensor([], [0.25]));
      w.set("sampling_eps_max", f32Tensor([], [0.75]));
      await saveHfCheckpoint(join(dir, "eps"), c, w);
      const ck = await loadHfCheckpoint(join(dir, "eps"));
      assert.equal(ck.config.samplingEpsMin, 0.25);
      assert.equal(ck.config.samplingEpsMax, 0.75);
    });

    await t.step("missing, extra and wrong-shape keys are refused, naming the key", async () => {
      const c = small();
      const good = randomWeights(c, rng);
      const target = join(dir, "bad");
      const cases: [string, (m: TensorMap) => void, RegExp][] = [
        [
          "missing",
          (m) => m.delete("backbone.blocks.1.mlp.0.bias"),
          /missing tensor "backbone\.blocks\.1\.mlp\.0\.bias" \[64\]/,
        ],
        [
          "extra",
          (m) => m.set("backbone.blocks.2.norm1.weight", f32Tensor([16])),
          /unexpected tensor "backbone\.blocks\.2\.norm1\.weight"/,
        ],
        [
          "shape",
          (m) => m.set("backbone.blocks.0.attn_qkv.weight", f32Tensor([16, 48])),
          /tensor "backbone\.blocks\.0\.attn_qkv\.weight" has shape \[16, 48\] but .* needs \[48, 16\]/,
        ],
      ];
      for (const [, mutate, pattern] of cases) {
        const m = new Map(good);
        mutate(m);
        await assert.rejects(() => saveHfCheckpoint(target, c, m), (e: unknown) => {
          assert.ok(e instanceof CheckpointError);
          assert.match(e.message, /bad\/model\.safetensors: /);
          assert.match(e.message, pattern);
          return true;
        });
        // The same problem in a file written by someone else is refused on load.
        await saveHfCheckpoint(target, c, good);
        const all = new Map(m);
        await writeSafetensors(join(target, "model.safetensors"), all);
        await assert.rejects(() => loadHfCheckpoint(target), pattern);
      }
      const i32: HostTensor = { dtype: "i32", shape: [16], data: new Int32Array(16) };
      await assert.rejects(
        () =>
          saveHfCheckpoint(target, c, new Map([...good, ["backbone.blocks.0.norm1.weight", i32]])),
        /"backbone\.blocks\.0\.norm1\.weight" is i32, expected f32/,
      );
    });

    await t.step("pickles and missing files give clear errors", async () => {
      const ck = join(dir, "last.ckpt");
      await Deno.writeFile(ck, new Uint8Array([0x80, 2]));
      await assert.rejects(
        () => loadHfCheckpoint(ck),
        /last\.ckpt: is a PyTorch\/Lightning pickle/,
      );
      const d = join(dir, "lightning");
      await Deno.mkdir(d);
      await Deno.writeFile(join(d, "best.ckpt"), new Uint8Array(4));
      await assert.rejects(() => loadHfCheckpoint(d), /best\.ckpt: is a PyTorch/);
      await assert.rejects(() => loadHfCheckpoint(join(dir, "nothing")), /no such directory/);
    });

    await t.step("Lightning key mapping and EMA list", () => {
      assert.equal(
        lightningKeyToHf("backbone._orig_mod.blocks.0.norm1.weight"),
        "backbone.blocks.0.norm1.weight",
      );
      assert.equal(
        lightningKeyToHf("backbone.backbone.vocab_embed.embedding"),
        "backbone.vocab_embed.embedding",
      );
      assert.equal(lightningKeyToHf("sampling_eps_min"), "sampling_eps_min");
      assert.equal(
        hfKeyToLightning("backbone.blocks.0.norm1.weight", "hf_dit"),
        "backbone.backbone.blocks.0.norm1.weight",
      );
      assert.equal(
        hfKeyToLightning("backbone.blocks.0.norm1.weight"),
        "backbone.blocks.0.norm1.weight",
      );
      const c = small();
      const params = expectedParameters(c);
      const shadow = params.map((p) => f32Tensor(p.shape));
      const named = emaShadowToHf(c, shadow);
      assert.equal(named.get(params[5].key), shadow[5]);
      assert.throws(() => emaShadowToHf(c, shadow.slice(1)), /has 29 tensors, the model has 30/);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
