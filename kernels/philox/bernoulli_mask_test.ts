import { freshSeed, gpuTest, poisonedInt, Rng } from "@blockdiff/core/testing";
import { Tensor } from "@blockdiff/core";
import assert from "node:assert/strict";
import { bernoulliMask } from "./bernoulli_mask.ts";
import { bernoulliMaskRef } from "./bernoulli_mask_ref.ts";
import { philoxUniform } from "./philox.ts";
import { philoxUniformRef } from "./philox_ref.ts";

const MASK = 50257;

gpuTest("bernoulliMask: per-token, per-block and per-sequence t, bit-exact", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  // [B, L, K]: K = L per token, K = L / b per block, K = 1 per sequence.
  for (
    const [B, L, K] of [[1, 1, 1], [2, 7, 7], [3, 16, 4], [2, 1024, 256], [4, 255, 1], [
      1,
      257,
      257,
    ]]
  ) {
    await t.step(`B=${B} L=${L} K=${K}`, async () => {
      const key: [number, number] = [rng.int(0, 2 ** 31), rng.int(0, 2 ** 31)];
      const off: [number, number] = [rng.int(0, 2 ** 31), 0];
      const x0 = Int32Array.from({ length: B * L }, () => rng.int(0, MASK - 1));
      const ts = Float32Array.from({ length: B * K }, () => rng.next());
      ts[0] = 0; // t = 0: nothing masked unless u = 0
      if (ts.length > 1) ts[ts.length - 1] = 1; // t = 1: everything masked
      // Comparison direction: put t exactly on one of its tokens' uniforms, so ≤ and < differ.
      const u = philoxUniformRef(B * L, key, off);
      if (ts.length > 2) ts[1] = u[Math.floor(L / K)];
      using x = Tensor.from(gpu, x0, [B, L], "i32");
      using tt = Tensor.from(gpu, ts, [B, K]);
      if (ts.length > 2) {
        const [le, lt] = [false, true].map((s) =>
          bernoulliMaskRef(x0, ts, B, L, MASK, key, off, s)
        );
        assert.ok(le.some((v, i) => v !== lt[i]), "the case must tell ≤ from <");
      }
      for (const strict of [false, true]) {
        using out = poisonedInt(gpu, [B, L]);
        bernoulliMask(x, tt, { maskId: MASK, seed: key, offset: off, strict, out });
        const want = bernoulliMaskRef(x0, ts, B, L, MASK, key, off, strict);
        const got = await out.read();
        const bad = got.findIndex((v, i) => v !== want[i]);
        assert.equal(
          bad,
          -1,
          `strict=${strict} [${bad}]: got ${got[bad]}, want ${want[bad]} (seed ${seed})`,
        );
      }
      // The draw is the one philoxUniform gives for the same stream.
      using gu = philoxUniform(gpu, [B, L], { seed: key, offset: off });
      const gpuU = await gu.readFloat();
      assert.ok(
        gpuU.every((v, i) => v === u[i]),
        `philoxUniform differs from its reference (seed ${seed})`,
      );
    });
  }
});

gpuTest("bernoulliMask: masked fraction follows t; shape errors", async (_t, gpu) => {
  const seed = freshSeed();
  const [B, L] = [8, 4096];
  const x0 = new Int32Array(B * L).fill(5);
  const ts = Float32Array.from({ length: B }, (_, b) => (b + 0.5) / B);
  using x = Tensor.from(gpu, x0, [B, L], "i32");
  using tt = Tensor.from(gpu, ts, [B, 1]);
  using out = bernoulliMask(x, tt, { maskId: MASK, seed, offset: 11n });
  const got = await out.read();
  for (let b = 0; b < B; b++) {
    let m = 0;
    for (let l = 0; l < L; l++) m += got[b * L + l] === MASK ? 1 : got[b * L + l] === 5 ? 0 : NaN;
    const sd = Math.sqrt(ts[b] * (1 - ts[b]) / L);
    assert.ok(
      Math.abs(m / L - ts[b]) < 6 * sd,
      `row ${b}: fraction ${m / L} vs t ${ts[b]} (seed ${seed})`,
    );
  }
  using badT = Tensor.zeros(gpu, [B, 3]);
  assert.throws(() => bernoulliMask(x, badT, { maskId: MASK, seed }), /K dividing L/);
  using f = Tensor.zeros(gpu, [B, L]);
  assert.throws(() => bernoulliMask(f, tt, { maskId: MASK, seed }), /dtype i32/);
});
