import assert from "node:assert/strict";
import { gpuTest } from "@blockdiff/core/testing";
import { modelConfig } from "@blockdiff/model";
import { ParamSet } from "@blockdiff/model";
import { Dit } from "@blockdiff/model";
import { Trainer, type TrainerOptions } from "./trainer.ts";
import { BatchIterator, chunkSetFrom } from "@blockdiff/data";
import { ByteTokenizer } from "@blockdiff/data";
import { wrapAll } from "@blockdiff/data";
import type { Gpu } from "@blockdiff/core";
import { loadTrainingCheckpoint, saveTrainingCheckpoint } from "@blockdiff/model/deno";

const TEXT = `The quick brown fox jumps over the lazy dog. A block diffusion model generates text
block by block, and inside each block it denoises masked tokens in parallel. `.repeat(40);

async function setup(gpu: Gpu, algo: "bd3lm" | "ar" | "mdlm" | "sedd", seed = 3) {
  const tok = new ByteTokenizer();
  const L = 32;
  const ids = await wrapAll(
    (async function* () {
      for (const para of TEXT.match(/.{1,200}/gs)!) yield tok.encode(para);
    })(),
    { length: L, bosId: tok.bosId, eosId: tok.eosId },
  );
  const rows: Int32Array[] = [];
  for (let i = 0; i + L <= ids.length; i += L) rows.push(ids.slice(i, i + L));
  const config = modelConfig({
    size: "micro",
    algo,
    vocab: tok.vocabSize,
    length: L,
    blockSize: algo === "bd3lm" ? 4 : L,
    dropout: 0.1,
  });
  const params = ParamSet.init(gpu, config, seed);
  const model = new Dit(gpu, params);
  const data = new BatchIterator(chunkSetFrom(rows, L), { batchSize: 4, seed: 5 });
  const opts: TrainerOptions = {
    batchSize: 4,
    maskId: tok.maskId,
    lr: 3e-3,
    warmup: 10,
    seed: 11,
    ema: 0.99,
  };
  return { model, params, trainer: new Trainer(model, data, opts), opts, rows, L };
}

gpuTest("trainer: every algorithm's loss falls on a micro model", async (t, gpu) => {
  for (const algo of ["bd3lm", "mdlm", "ar", "sedd"] as const) {
    await t.step(algo, async () => {
      const { model, params, trainer } = await setup(gpu, algo);
      const losses: number[] = [];
      for (let i = 0; i < 60; i++) losses.push((await trainer.trainStep()).loss);
      const first = losses.slice(0, 10).reduce((a, b) => a + b) / 10;
      const last = losses.slice(-10).reduce((a, b) => a + b) / 10;
      assert.ok(losses.every(Number.isFinite), `${algo}: non-finite loss`);
      assert.ok(last < first * 0.8, `${algo}: loss went from ${first} to ${last}`);
      trainer.dispose();
      model.dispose();
      params.dispose();
    });
  }
});

gpuTest(
  "trainer: resuming from a checkpoint reproduces the uninterrupted losses",
  async (_t, gpu) => {
    const a = await setup(gpu, "bd3lm");
    const straight: number[] = [];
    for (let i = 0; i < 8; i++) straight.push((await a.trainer.trainStep()).loss);
    a.trainer.dispose();
    a.model.dispose();
    a.params.dispose();

    const b = await setup(gpu, "bd3lm");
    const dir = await Deno.makeTempDir();
    const resumed: number[] = [];
    for (let i = 0; i < 3; i++) resumed.push((await b.trainer.trainStep()).loss);
    await saveTrainingCheckpoint(dir, await b.trainer.state());
    // More steps that a killed run would lose.
    await b.trainer.trainStep();
    b.trainer.dispose();
    b.model.dispose();
    b.params.dispose();

    const c = await setup(gpu, "bd3lm", 99); // different init: the checkpoint must overwrite it
    const files = [...Deno.readDirSync(dir)].filter((f) => f.name.endsWith(".safetensors"));
    c.trainer.restore(await loadTrainingCheckpoint(`${dir}/${files[0].name}`));
    assert.equal(c.trainer.step, 3);
    for (let i = 3; i < 8; i++) resumed.push((await c.trainer.trainStep()).loss);
    for (let i = 0; i < 8; i++) {
      assert.ok(
        Math.abs(resumed[i] - straight[i]) <= 1e-6,
        `step ${i + 1}: ${resumed[i]} vs ${straight[i]}`,
      );
    }
    c.trainer.dispose();
    c.model.dispose();
    c.params.dispose();
    await Deno.remove(dir, { recursive: true });
  },
);

gpuTest("trainer: a training loop holds a fixed set of GPU buffers", async (_t, gpu) => {
  const { model, params, trainer } = await setup(gpu, "bd3lm");
  for (let i = 0; i < 5; i++) await trainer.trainStep();
  const before = gpu.pool.stats();
  for (let i = 0; i < 500; i++) await trainer.trainStep();
  const after = gpu.pool.stats();
  assert.equal(after.created, before.created, "no new buffers after warm-up");
  assert.equal(after.liveBytes, before.liveBytes);
  assert.equal(after.inUse, before.inUse, "every step returns what it takes");
  trainer.dispose();
  model.dispose();
  params.dispose();
});
