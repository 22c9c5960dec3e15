/**
 * The vectorized training pass over [x_t ; x0] with the block-diffusion mask gives the same
 * logits and loss as the paper's naive two-pass algorithm: a clean pass producing keys and
 * values block by block (a KV cache), then each noisy block attending to the clean blocks
 * before it.
 */
import { assertClose, gpuTest } from "@blockdiff/core/testing";
import { Tensor } from "@blockdiff/core";
import { loadHfCheckpoint } from "@blockdiff/model/deno";
import { Dit, newGraph, ParamSet } from "@blockdiff/model";

gpuTest("vectorized 2L pass equals the naive two-pass algorithm", async (_t, gpu) => {
  const dir = new URL("../model/nn/testdata/bd3lm/", import.meta.url).pathname;
  const ckpt = await loadHfCheckpoint(dir, { algo: "bd3lm" });
  const e = JSON.parse(await Deno.readTextFile(`${dir}/expected.json`));
  using params = ParamSet.fromHost(gpu, ckpt.config, ckpt.tensors);
  using model = new Dit(gpu, params);
  const B: number = e.batch, L: number = e.length, b = ckpt.config.blockSize, V = ckpt.config.vocab;
  const xt: number[] = e.xt, x0: number[] = e.x0;
  using g = newGraph(gpu, { grad: false });
  const both: number[] = [];
  for (let i = 0; i < B; i++) {
    both.push(...xt.slice(i * L, (i + 1) * L), ...x0.slice(i * L, (i + 1) * L));
  }
  const vec = await model.forward(g, { ids: g.keep(Tensor.from(gpu, both, [B, 2 * L], "i32")) }, {
    kind: "bdTrain",
  }).value.readFloat();

  const caches = model.createCaches(B, L);
  const naive = new Float32Array(B * L * V);
  const block = (src: number[], j: number) => {
    const out: number[] = [];
    for (let i = 0; i < B; i++) out.push(...src.slice(i * L + j * b, i * L + (j + 1) * b));
    return g.keep(Tensor.from(gpu, out, [B, b], "i32"));
  };
  for (let j = 0; j < L / b; j++) {
    const logits = await model.forwardCached(g, block(xt, j), caches).value.readFloat(); // noisy pass
    for (let i = 0; i < B; i++) {
      naive.set(logits.subarray(i * b * V, (i + 1) * b * V), (i * L + j * b) * V);
    }
    model.forwardCached(g, block(x0, j), caches, { commit: true }); // clean pass: K, V of block j
  }
  for (const c of caches) c.dispose();
  assertClose(naive, vec, 1e-5, "two-pass vs vectorized logits");
});
