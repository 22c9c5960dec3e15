import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { Tensor } from "@blockdiff/core";
import assert from "node:assert/strict";
import { softmax } from "./softmax.ts";
import { softmaxRef } from "./softmax_ref.ts";

// f32 against float64: each probability carries a few ulp from exp, the row sum (per-lane
// online sums of ≤ n/256 terms merged pairwise) and the final scaling. 1e-5 holds up to
// n = 50258 with a wide margin (observed ~1e-7); the temperature case adds the rounding of
// x·(1/T), a relative 6e-8 of each logit, i.e. ≲ 1e-6 on logits of size ~10.
const TOL = 1e-5;

gpuTest("softmax: rows of logits against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const cases: [number, number, number, number][] = [
    // [rows, n, temperature, maskId]
    [1, 1, 1, -1],
    [3, 7, 1, -1],
    [2, 255, 0.7, -1],
    [4, 257, 1, 13],
    [1, 256, 2.5, 0],
    [2, 50258, 1, 50257],
    [3, 50258, 0.9, -1],
  ];
  for (const [rows, n, temperature, maskId] of cases) {
    await t.step(`rows=${rows} n=${n} T=${temperature} maskId=${maskId}`, async () => {
      const xs = rng.normals(rows * n, 3);
      using x = Tensor.from(gpu, xs, [rows, n]);
      using out = poisoned(gpu, [rows, n]);
      softmax(x, { temperature, maskId, out });
      const got = await out.readFloat();
      const err = assertClose(got, softmaxRef(xs, n, temperature, maskId), TOL, "softmax", seed);
      if (maskId >= 0) { for (let r = 0; r < rows; r++) assert.equal(got[r * n + maskId], 0); }
      console.log(`  rows=${rows} n=${n}: relative error ${err.toExponential(2)}`);
    });
  }
});

gpuTest("softmax: extreme logits (±1e4, −inf, all −inf) stay finite", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const n of [7, 257, 50258]) {
    await t.step(`n=${n}`, async () => {
      const rows = 3;
      const xs = rng.normals(rows * n, 2);
      for (let i = 0; i < n; i++) {
        const k = rng.int(0, 3);
        if (k === 0) xs[i] = -Infinity; // row 0: a quarter −inf, the rest ±1e4 or normal
        else if (k === 1) xs[i] = rng.next() < 0.5 ? 1e4 : -1e4;
      }
      xs.fill(-Infinity, n, 2 * n); // row 1: no finite logit → zeros by convention
      xs[2 * n + rng.int(0, n - 1)] = 1e4; // row 2: one dominant logit
      using x = Tensor.from(gpu, xs, [rows, n]);
      using out = poisoned(gpu, [rows, n]);
      softmax(x, { out });
      const got = await out.readFloat();
      assert.ok(got.every(Number.isFinite), "softmax produced a non-finite value");
      assertClose(got, softmaxRef(xs, n), TOL, "softmax extreme", seed);
      let sum0 = 0;
      for (let i = 0; i < n; i++) sum0 += got[i];
      assert.ok(Math.abs(sum0 - 1) < 1e-5, `row 0 sums to ${sum0}`);
    });
  }
});

gpuTest("softmax: 3-D input, default out, and shape errors", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const xs = rng.normals(2 * 3 * 9);
  using x = Tensor.from(gpu, xs, [2, 3, 9]);
  using y = softmax(x);
  assert.deepEqual(y.shape, [2, 3, 9]);
  assertClose(await y.readFloat(), softmaxRef(xs, 9), TOL, "softmax 3-D", seed);
  using bad = Tensor.empty(gpu, [2, 3, 8]);
  assert.throws(() => softmax(x, { out: bad }), /does not match/);
  assert.throws(() => softmax(x, { maskId: 9 }), /maskId/);
  assert.throws(() => softmax(x, { temperature: 0 }), /temperature/);
});
