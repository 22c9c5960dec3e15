import assert from "node:assert/strict";
import { gpuTest } from "@blockdiff/core/testing";
import { Dit, ParamSet } from "@blockdiff/model";
import { loadModelDir } from "@blockdiff/model/deno";
import type { TensorMap } from "@blockdiff/model/io";
import { loadTokenizer } from "@blockdiff/data";
import { checkLoadedWeights, loadCheckWarning } from "./load_check.ts";

const BUNDLED = new URL("../models/bundled", import.meta.url).pathname;

gpuTest(
  "checkLoadedWeights: the bundled model passes, garbled weights are flagged",
  async (t, gpu) => {
    const m = await loadModelDir(BUNDLED);
    const name = m.meta.tokenizer;
    const tok = await loadTokenizer(name.endsWith(".json") ? `${BUNDLED}/${name}` : name);
    const check = async (tensors: TensorMap) => {
      using params = ParamSet.fromHost(gpu, m.config, tensors, "load check");
      using dit = new Dit(gpu, params);
      return await checkLoadedWeights(dit, tok);
    };
    await t.step("the bundled model's loss is far below ln V", async () => {
      const c = await check(m.tensors);
      assert.ok(c.plausible, JSON.stringify(c));
      assert.ok(c.nll < c.uniform - 1, JSON.stringify(c));
      assert.equal(c.tokens, 63);
    });
    await t.step(
      "an output layer read with the wrong scale (confident nonsense) is flagged",
      async () => {
        const garbled = new Map(m.tensors);
        const key = "backbone.output_layer.linear.weight";
        const w = m.tensors.get(key)!;
        const data = Float32Array.from(
          w.data as Float32Array,
          (x, i) => (i % 7 === 0 ? -60 : 40) * x,
        );
        garbled.set(key, { ...w, dtype: "f32", data });
        const c = await check(garbled);
        assert.equal(c.plausible, false, JSON.stringify(c));
        assert.match(
          loadCheckWarning("models/x", c),
          /^warning: models\/x: loss \d+\.\d\d nats\/token/,
        );
      },
    );
  },
);
