import assert from "node:assert/strict";
import { gpuTest } from "../testing/mod.ts";
import {
  adaptiveBlockSize,
  ancestral,
  arSample,
  type BlockSizePolicy,
  firstHitting,
  fixedBlockSize,
  type InnerSampler,
  semiArSample,
} from "@blockdiff/schedules";
import { ByteTokenizer } from "../data/byte_tokenizer.ts";
import { KvBlockDenoiser } from "./kv_denoiser.ts";
import { WindowBlockDenoiser } from "./window_denoiser.ts";
import { KvArModel, WindowArModel } from "./ar_models.ts";
import { generate } from "./generate.ts";
import { tinyModel } from "./_test_model.ts";

const MASK = 49, BOS = 48;
const base = { maskId: MASK, bosId: BOS };

gpuTest("sample: BD3-LM block denoisers on a tiny model", async (t, gpu) => {
  using model = await tinyModel(gpu);
  const bd = async (
    kv: boolean,
    inner: InnerSampler,
    policy: BlockSizePolicy,
    length: number,
    seed: number,
    batch = 2,
  ) => {
    if (kv) {
      using d = new KvBlockDenoiser(model, batch);
      return await semiArSample(d, { ...base, length, seed, inner, blockSize: policy });
    }
    const d = new WindowBlockDenoiser(model, batch);
    return await semiArSample(d, { ...base, length, seed, inner, blockSize: policy });
  };

  await t.step("KV-cached and recomputed sampling give identical tokens (no slide)", async () => {
    for (const inner of [firstHitting(), ancestral(6)]) {
      const a = await bd(true, inner, fixedBlockSize(4), 32, 5);
      const b = await bd(false, inner, fixedBlockSize(4), 32, 5);
      assert.deepEqual(a.rows, b.rows, inner.name);
      assert.equal(a.nfe, b.nfe);
      assert.ok(a.rows.every((r) => r.length === 32 && !r.includes(MASK)));
    }
  });

  await t.step("same seed → same tokens; first-hitting NFE = L − 1", async () => {
    const a = await bd(true, firstHitting(), fixedBlockSize(4), 32, 9, 1);
    const b = await bd(true, firstHitting(), fixedBlockSize(4), 32, 9, 1);
    assert.deepEqual(a.rows, b.rows);
    assert.equal(a.nfe, 31);
    assert.equal(a.commits, 7);
  });

  await t.step("adaptive block sizes: KV and recompute paths still agree", async () => {
    const policy = adaptiveBlockSize({ sizes: [2, 4, 8], threshold: 0.3 });
    const a = await bd(true, firstHitting(), policy, 32, 3);
    const b = await bd(false, firstHitting(), policy, 32, 3);
    assert.deepEqual(a.blockSizes, b.blockSizes);
    assert.deepEqual(a.rows, b.rows);
    assert.equal(a.blockSizes.reduce((x, y) => x + y, 0), 32);
  });

  await t.step("longer than the model length: the cache slides", async () => {
    using d = new KvBlockDenoiser(model, 1);
    const r = await semiArSample(d, {
      ...base,
      length: 80,
      seed: 4,
      inner: firstHitting(),
      blockSize: fixedBlockSize(4),
    });
    assert.equal(r.rows[0].length, 80);
    assert.ok(!r.rows[0].includes(MASK));
    assert.equal(r.nfe, 79);
    assert.ok(d.cached < 32);
    const w = await bd(false, firstHitting(), fixedBlockSize(4), 80, 4, 1);
    assert.equal(w.rows[0].length, 80);
    // Identical up to the model length; afterwards the paths may differ (spec 2.3).
    assert.deepEqual([...w.rows[0].subarray(0, 32)], [...r.rows[0].subarray(0, 32)]);
  });
});

gpuTest("sample: AR with and without KV cache", async (t, gpu) => {
  using model = await tinyModel(gpu, { algo: "ar", blockSize: 32 });
  await t.step("cached and recomputed AR agree while the cache holds everything", async () => {
    using kv = new KvArModel(model, 2);
    const a = await arSample(kv, { ...base, length: 32, seed: 2, prompt: [1, 2, 3] });
    const b = await arSample(new WindowArModel(model, 2), {
      ...base,
      length: 32,
      seed: 2,
      prompt: [1, 2, 3],
    });
    assert.deepEqual(a.rows, b.rows);
    assert.deepEqual([...a.rows[0].subarray(0, 4)], [BOS, 1, 2, 3]);
    assert.equal(a.nfe, 28); // the prompt call, then one per token but the last
  });
  await t.step("beyond the window", async () => {
    using kv = new KvArModel(model, 1);
    const r = await arSample(kv, { ...base, length: 48, seed: 2 });
    assert.equal(r.rows[0].length, 48);
  });
});

gpuTest("sample: generate() end to end on every algorithm", async (t, gpu) => {
  const tok = new ByteTokenizer();
  const common = { vocab: tok.vocabSize };
  for (const algo of ["bd3lm", "mdlm", "sedd", "ar"] as const) {
    await t.step(algo, async () => {
      using model = await tinyModel(gpu, {
        ...common,
        algo,
        blockSize: algo === "bd3lm" ? 4 : 32,
      });
      const events: number[] = [];
      const out = await generate(model, tok, {
        prompt: "ab",
        batch: 2,
        seed: 1,
        steps: 8,
        stopAtEos: false,
        onStep: (e) => void events.push(e.nfe),
      });
      assert.equal(out.ids.length, 2);
      assert.equal(out.prefixLength, 3);
      assert.deepEqual(out.ids[0].slice(0, 3), [tok.bosId, 97, 98]);
      assert.ok(out.texts[0].startsWith("ab"));
      assert.deepEqual(out.lengths, [29, 29]);
      assert.ok(out.ids.every((r) => !r.includes(tok.maskId)));
      assert.ok(out.nfe > 0 && out.tokensPerSecond > 0 && events.length > 0);
      if (algo === "sedd") assert.equal(out.nfe, 8);
      if (algo === "bd3lm" || algo === "mdlm") assert.equal(out.nfe, 29);
    });
  }
});
