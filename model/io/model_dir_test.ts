import assert from "node:assert/strict";
import { join } from "node:path";
import { expectedParameters } from "./hf_params.ts";
import { modelConfig } from "./model_config.ts";
import { loadModelDir, saveModelDir } from "./model_dir.ts";
import { IoError } from "./errors.ts";
import type { TensorMap } from "./host_tensor.ts";
import { ConfigError } from "./errors.ts";

Deno.test("model directories: plain and fflate-compressed round trips, clear errors", async (t) => {
  const config = modelConfig({
    size: "micro",
    algo: "bd3lm",
    vocab: 20,
    hidden: 16,
    heads: 2,
    blocks: 1,
    condDim: 8,
    length: 8,
    blockSize: 4,
  });
  const tensors: TensorMap = new Map();
  let k = 0;
  for (const s of expectedParameters(config)) {
    const n = s.shape.reduce((a, b) => a * b, 1);
    tensors.set(s.key, {
      dtype: "f32",
      shape: s.shape,
      data: Float32Array.from({ length: n }, () => (k++ % 17) / 16),
    });
  }
  const root = await Deno.makeTempDir();
  for (const compress of [false, true]) {
    await t.step(compress ? "compressed" : "plain", async () => {
      const dir = join(root, String(compress));
      await saveModelDir(dir, config, tensors, { tokenizer: "bytes", maskId: 19 }, {
        floatDtype: "F16",
        compress,
      });
      const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.ok(
        names.includes(compress ? "model.safetensors.gz" : "model.safetensors"),
        names.join(","),
      );
      const m = await loadModelDir(dir);
      assert.equal(m.meta.tokenizer, "bytes");
      assert.equal(m.config.blockSize, 4);
      for (const [key, t0] of tensors) {
        const got = m.tensors.get(key)!.data as Float32Array;
        // f16 holds these multiples of 1/16 exactly.
        assert.deepEqual([...got], [...(t0.data as Float32Array)], key);
      }
    });
  }
  await t.step("a corrupt .gz names the file", async () => {
    const dir = join(root, "true");
    await Deno.writeFile(join(dir, "model.safetensors.gz"), new Uint8Array([1, 2, 3, 4]));
    await assert.rejects(
      loadModelDir(dir),
      (e: Error) => e instanceof IoError && e.message.includes("model.safetensors.gz"),
    );
  });
  await t.step("a missing directory says so", async () => {
    await assert.rejects(loadModelDir(join(root, "nope")), ConfigError);
  });
  await Deno.remove(root, { recursive: true });
});
