import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { logSoftmaxGather } from "./log_softmax.ts";
import { logSoftmaxGatherBackward } from "./log_softmax_backward.ts";
import { logSoftmaxGatherBackwardRef } from "./log_softmax_backward_ref.ts";
import { logSoftmaxGatherRef } from "./log_softmax_ref.ts";
import { finiteDifferenceError, sampleIndices } from "../_finite_diff.ts";

// softmax = exp(x − lse) with the f32 lse of the forward, which carries a few ulp of |lse| (≈ 10
// for these logits, so ~1e-6 absolute): the gradient's normwise error stays near 1e-7–1e-6.
const TOL = 1e-5;

/** Random targets: valid ids that are never the mask, with some rows ignored. */
function targets(rng: Rng, rows: number, n: number, maskId: number): Int32Array {
  return Int32Array.from({ length: rows }, () => {
    if (rows > 1 && rng.next() < 0.2) return -100;
    let id = rng.int(0, n - 1);
    while (n > 1 && id === maskId) id = rng.int(0, n - 1);
    return id;
  });
}

gpuTest("logSoftmaxGatherBackward: against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const cases: [number, number, number][] = [
    // [rows, n, maskId]
    [1, 1, -1],
    [5, 7, 6],
    [3, 255, -1],
    [6, 257, 0],
    [3, 50258, 50257],
  ];
  for (const [rows, n, maskId] of cases) {
    await t.step(`rows=${rows} n=${n} maskId=${maskId}`, async () => {
      const xs = rng.normals(rows * n, 3);
      const ts = targets(rng, rows, n, maskId);
      const ws = rng.uniforms(rows, 0.1, 2);
      using x = Tensor.from(gpu, xs, [rows, n]);
      using tg = Tensor.from(gpu, ts, [rows], "i32");
      using w = Tensor.from(gpu, ws, [rows]);
      const fwd = logSoftmaxGather(x, tg, { maskId });
      using _loss = fwd.loss;
      using lse = fwd.lse;
      using out = poisoned(gpu, [rows, n]);
      logSoftmaxGatherBackward(x, tg, lse, w, { maskId, out });
      const want = logSoftmaxGatherBackwardRef(xs, ts, ws, n, maskId);
      const got = await out.readFloat();
      const err = assertClose(got, want, TOL, "dlogits", seed);
      for (let r = 0; r < rows; r++) {
        if (ts[r] < 0) assert.ok(got.subarray(r * n, (r + 1) * n).every((v) => v === 0));
        if (maskId >= 0) assert.equal(got[r * n + maskId], 0, "masked column must be 0");
      }
      // In place: the logits are overwritten by their gradient.
      logSoftmaxGatherBackward(x, tg, lse, w, { maskId, out: x });
      assertClose(await x.readFloat(), want, TOL, "dlogits in place", seed);
      console.log(`  rows=${rows} n=${n}: relative error ${err.toExponential(2)}`);
    });
  }
});

gpuTest("logSoftmaxGatherBackward: out-of-range target gives NaN", async (_t, gpu) => {
  const n = 9;
  using x = Tensor.from(gpu, new Float32Array(2 * n).fill(0.5), [2, n]);
  using tg = Tensor.from(gpu, [n, 3], [2], "i32");
  using w = Tensor.from(gpu, [1, 1], [2]);
  using lse = Tensor.from(gpu, [Math.log(n - 1), Math.log(n - 1)], [2]);
  const got = await logSoftmaxGatherBackward(x, tg, lse, w, { maskId: 0 }).readFloat();
  assert.ok(got.subarray(1, n).every(Number.isNaN), "row with target ≥ n must be NaN");
  assert.ok(got.subarray(n).every(Number.isFinite));
});

Deno.test("logSoftmaxGatherBackwardRef: matches central differences of the forward", async (t) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const [rows, n, maskId] of [[4, 7, 6], [6, 37, -1], [3, 300, 0]]) {
    await t.step(`rows=${rows} n=${n} maskId=${maskId}`, () => {
      const xs = Float64Array.from(rng.normals(rows * n, 2));
      const ts = targets(rng, rows, n, maskId);
      const ws = Float64Array.from(rng.uniforms(rows, -1, 1));
      // L(x) = Σ_r w_r loss_r: a random projection of the per-row losses.
      const f = (x: Float64Array) => {
        const { loss } = logSoftmaxGatherRef(x, ts, n, maskId);
        return loss.reduce((s, l, r) => s + ws[r] * l, 0);
      };
      const grad = logSoftmaxGatherBackwardRef(xs, ts, ws, n, maskId);
      const onTargets = [...ts].flatMap((id, r) => (id >= 0 ? [r * n + id] : []));
      const idx = sampleIndices(rng, rows * n, 48, onTargets).filter((i) => i % n !== maskId);
      const err = finiteDifferenceError(f, xs, grad, idx);
      assert.ok(err < 1e-6, `finite-difference error ${err} (seed ${seed})`);
    });
  }
});

gpuTest("logSoftmaxGatherBackward: shape and dtype errors", (_t, gpu) => {
  using x = Tensor.zeros(gpu, [2, 3, 5]);
  using tg = Tensor.zeros(gpu, [2, 3], "i32");
  using lse = Tensor.zeros(gpu, [2, 3]);
  using w = Tensor.zeros(gpu, [2, 3]);
  using bad = Tensor.zeros(gpu, [6]);
  assert.throws(() => logSoftmaxGatherBackward(x, tg, bad, w), ShapeError);
  assert.throws(() => logSoftmaxGatherBackward(x, tg, lse, bad), ShapeError);
  assert.throws(() => logSoftmaxGatherBackward(x, lse, lse, w), /dtype i32/);
  assert.throws(() => logSoftmaxGatherBackward(x, tg, lse, w, { maskId: 5 }), /maskId/);
  return Promise.resolve();
});
