import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { Tensor } from "@blockdiff/core";
import assert from "node:assert/strict";
import { logSoftmax, logSoftmaxGather } from "./log_softmax.ts";
import { logSoftmaxGatherRef, logSoftmaxRef } from "./log_softmax_ref.ts";

// Log-probabilities and losses are differences v − lse: the f32 lse (per-lane online sums of
// ≤ n/256 terms, merged pairwise, then a log) carries a few ulp of its magnitude, so the
// normwise relative error stays near 1e-7 even at n = 50258.
const TOL = 1e-5;

/**
 * Infinite entries must agree exactly (same sign, same place); the finite rest is compared by
 * relative error. Returns that error.
 */
function closeWithInf(
  got: Float32Array,
  want: Float64Array,
  what: string,
  seed: number,
): number {
  const g: number[] = [];
  const w: number[] = [];
  for (let i = 0; i < want.length; i++) {
    if (Number.isFinite(want[i])) {
      g.push(got[i]);
      w.push(want[i]);
    } else {
      assert.ok(
        Object.is(got[i], want[i]),
        `${what}[${i}]: got ${got[i]}, want ${want[i]} (seed ${seed})`,
      );
    }
  }
  return assertClose(g, w, TOL, what, seed);
}

gpuTest("logSoftmax: rows of logits against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const cases: [number, number, number, number][] = [
    // [rows, n, temperature, maskId]
    [1, 1, 1, -1],
    [3, 7, 1, 2],
    [2, 255, 0.8, -1],
    [4, 257, 1, 256],
    [2, 50258, 1, 50257],
    [1, 50258, 1.3, -1],
  ];
  for (const [rows, n, temperature, maskId] of cases) {
    await t.step(`rows=${rows} n=${n} T=${temperature} maskId=${maskId}`, async () => {
      const xs = rng.normals(rows * n, 3);
      using x = Tensor.from(gpu, xs, [rows, n]);
      using out = poisoned(gpu, [rows, n]);
      logSoftmax(x, { temperature, maskId, out });
      const want = logSoftmaxRef(xs, n, temperature, maskId);
      const err = closeWithInf(await out.readFloat(), want, "logSoftmax", seed);
      console.log(`  rows=${rows} n=${n}: relative error ${err.toExponential(2)}`);
    });
  }
});

gpuTest("logSoftmaxGather: losses and logsumexps against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const cases: [number, number, number][] = [
    // [rows, n, maskId]
    [1, 1, -1],
    [5, 7, 6],
    [3, 255, -1],
    [6, 257, 0],
    [4, 50258, 50257],
  ];
  for (const [rows, n, maskId] of cases) {
    await t.step(`rows=${rows} n=${n} maskId=${maskId}`, async () => {
      const xs = rng.normals(rows * n, 3);
      // Targets: valid ids (never the mask, as in x0), plus an ignored row when rows > 1.
      const ts = Int32Array.from({ length: rows }, () => {
        let id = rng.int(0, n - 1);
        while (n > 1 && id === maskId) id = rng.int(0, n - 1);
        return id;
      });
      if (rows > 1) ts[rng.int(0, rows - 1)] = -100;
      using x = Tensor.from(gpu, xs, [rows, n]);
      using tg = Tensor.from(gpu, ts, [rows], "i32");
      using loss = poisoned(gpu, [rows]);
      using lse = poisoned(gpu, [rows]);
      logSoftmaxGather(x, tg, { maskId, loss, lse });
      const want = logSoftmaxGatherRef(xs, ts, n, maskId);
      const gotLoss = await loss.readFloat();
      const e1 = closeWithInf(gotLoss, want.loss, "loss", seed);
      const e2 = closeWithInf(await lse.readFloat(), want.lse, "lse", seed);
      ts.forEach((id, r) => id < 0 && assert.equal(gotLoss[r], 0, "ignored row must give 0"));
      console.log(`  rows=${rows} n=${n}: loss ${e1.toExponential(2)}, lse ${e2.toExponential(2)}`);
    });
  }
});

gpuTest(
  "log-softmax: extreme logits (±1e4, −inf, all −inf), mask and bad targets",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    for (const n of [7, 257, 50258]) {
      await t.step(`n=${n}`, async () => {
        const rows = 4;
        const maskId = n - 1;
        const xs = rng.normals(rows * n, 2);
        for (let i = 0; i < n; i++) {
          const k = rng.int(0, 3);
          if (k === 0) xs[i] = -Infinity; // row 0: a mix of −inf, ±1e4 and normals
          else if (k === 1) xs[i] = rng.next() < 0.5 ? 1e4 : -1e4;
        }
        xs[0] = 1e4; // row 0 has a finite maximum for sure
        xs.fill(-Infinity, n, 2 * n); // row 1: no finite logit
        xs[3 * n - 1] = 1e4; // row 2: the largest logit sits in the masked column
        // Targets: row 0 a −inf logit (loss +inf) or a finite one, row 1 valid (loss +inf),
        // row 2 the mask id (loss +inf), row 3 out of range (NaN).
        const ts = Int32Array.from([rng.int(0, n - 2), 0, maskId, n]);
        using x = Tensor.from(gpu, xs, [rows, n]);
        using out = poisoned(gpu, [rows, n]);
        logSoftmax(x, { maskId, out });
        const got = await out.readFloat();
        assert.ok(!got.some(Number.isNaN), "logSoftmax produced NaN");
        closeWithInf(got, logSoftmaxRef(xs, n, 1, maskId), "logSoftmax extreme", seed);

        using tg = Tensor.from(gpu, ts, [rows], "i32");
        const { loss, lse } = logSoftmaxGather(x, tg, { maskId });
        using _l = loss;
        using _s = lse;
        const want = logSoftmaxGatherRef(xs, ts, n, maskId);
        const gl = await loss.readFloat();
        closeWithInf(gl.subarray(0, 3), want.loss.subarray(0, 3), "loss extreme", seed);
        assert.ok(Number.isNaN(gl[3]), `out-of-range target must give NaN, got ${gl[3]}`);
        closeWithInf(await lse.readFloat(), want.lse, "lse extreme", seed);
      });
    }
  },
);

gpuTest("logSoftmaxGather: shape and dtype errors", (_t, gpu) => {
  using x = Tensor.zeros(gpu, [2, 3, 5]);
  using good = Tensor.zeros(gpu, [2, 3], "i32");
  using badShape = Tensor.zeros(gpu, [6], "i32");
  using badType = Tensor.zeros(gpu, [2, 3]);
  assert.throws(() => logSoftmaxGather(x, badShape), /expected shape \[2, 3\]/);
  assert.throws(() => logSoftmaxGather(x, badType), /expected dtype i32/);
  assert.throws(() => logSoftmaxGather(x, good, { maskId: 5 }), /maskId/);
  using wrongOut = Tensor.zeros(gpu, [3, 2]);
  assert.throws(() => logSoftmaxGather(x, good, { loss: wrongOut }), /loss/);
  return Promise.resolve(); // nothing to await: every check throws before recording
});
