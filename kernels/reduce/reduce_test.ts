import {
  assertClose,
  freshSeed,
  gpuTest,
  poisoned,
  relativeError,
  Rng,
} from "@blockdiff/core/testing";
import { Tensor } from "@blockdiff/core";
import assert from "node:assert/strict";
import {
  maxAll,
  meanAll,
  rowMax,
  rowMean,
  rowSum,
  rowWeightedSum,
  sumAll,
  weightedSumAll,
} from "./reduce.ts";
import { absSumRowsRef, reduceRowsRef } from "./reduce_ref.ts";

// f32 sums of positive data: chunked per-lane sums plus a pairwise tree keep the error to a
// few dozen ulp in the worst case and ~1e-7 in practice, well under 1e-5.
const TOL = 1e-5;
// Mixed-sign data may cancel, so there the error is judged against Σ|x_i| per row, the scale
// of the rounding errors of any summation order: |got − want| ≤ ABS_TOL · Σ|x_i|.
const ABS_TOL = 1e-6;

function assertAbsBound(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  scale: ArrayLike<number>,
  what: string,
  seed: number,
): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]) / Math.max(scale[i], 1e-30);
    assert.ok(
      e <= ABS_TOL,
      `${what}[${i}]: got ${got[i]}, want ${want[i]}, Σ|x| ${scale[i]} (seed ${seed})`,
    );
    worst = Math.max(worst, e);
  }
  return worst;
}

gpuTest("reduce over the last axis: sum, mean, max, weighted sum", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const [rows, n] of [[1, 1], [3, 7], [2, 255], [4, 257], [2, 256], [3, 50258]]) {
    await t.step(`rows=${rows} n=${n}`, async () => {
      const pos = rng.uniforms(rows * n, 0, 1);
      const mixed = rng.normals(rows * n, 3);
      const ws = rng.uniforms(rows * n, 0, 1).map((v) => (v < 0.3 ? 0 : v)); // mask-like weights
      using xp = Tensor.from(gpu, pos, [rows, n]);
      using xm = Tensor.from(gpu, mixed, [rows, n]);
      using w = Tensor.from(gpu, ws, [rows, n]);
      const errs: string[] = [];
      for (const op of ["sum", "mean", "max"] as const) {
        const f = { sum: rowSum, mean: rowMean, max: rowMax }[op];
        using out = poisoned(gpu, [rows]);
        f(xp, { out });
        const e = assertClose(
          await out.readFloat(),
          reduceRowsRef(pos, null, n, op),
          TOL,
          op,
          seed,
        );
        using outM = poisoned(gpu, [rows]);
        f(xm, { out: outM });
        const want = reduceRowsRef(mixed, null, n, op);
        if (op === "max") assert.deepEqual([...await outM.readFloat()], [...want].map(Math.fround));
        else assertAbsBound(await outM.readFloat(), want, absSumRowsRef(mixed, null, n), op, seed);
        errs.push(`${op} ${e.toExponential(2)}`);
      }
      using ws1 = poisoned(gpu, [rows]);
      rowWeightedSum(xp, w, { out: ws1 });
      const e = assertClose(
        await ws1.readFloat(),
        reduceRowsRef(pos, ws, n, "sum"),
        TOL,
        "wsum",
        seed,
      );
      using ws2 = rowWeightedSum(xm, w);
      assertAbsBound(
        await ws2.readFloat(),
        reduceRowsRef(mixed, ws, n, "sum"),
        absSumRowsRef(mixed, ws, n),
        "wsum mixed",
        seed,
      );
      console.log(`  ${errs.join(", ")}, weightedSum ${e.toExponential(2)}`);
    });
  }
});

gpuTest("reduce over a whole tensor (two stages)", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const shapes = [[1], [7], [3, 683], [255, 257], [4, 3, 50258], [1_000_003]];
  for (const shape of shapes) {
    await t.step(`shape=[${shape}]`, async () => {
      const size = shape.reduce((a, b) => a * b, 1);
      const pos = rng.uniforms(size, 0, 1);
      const mixed = rng.normals(size);
      const ws = rng.uniforms(size, 0, 1);
      using xp = Tensor.from(gpu, pos, shape);
      using xm = Tensor.from(gpu, mixed, shape);
      using w = Tensor.from(gpu, ws, shape);
      const errs: string[] = [];
      for (const op of ["sum", "mean", "max"] as const) {
        const f = { sum: sumAll, mean: meanAll, max: maxAll }[op];
        using out = poisoned(gpu, []);
        f(xp, { out });
        const got = await out.readFloat();
        const e = assertClose(got, reduceRowsRef(pos, null, size, op, 1), TOL, `${op}All`, seed);
        errs.push(`${op} ${e.toExponential(2)}`);
        using outM = f(xm);
        assert.deepEqual(outM.shape, []);
        const want = reduceRowsRef(mixed, null, size, op, 1);
        if (op === "max") assert.equal((await outM.readFloat())[0], Math.fround(want[0]));
        else if (op === "sum") {
          assertAbsBound(
            await outM.readFloat(),
            want,
            absSumRowsRef(mixed, null, size, 1),
            op,
            seed,
          );
        }
      }
      using wo = weightedSumAll(xp, w);
      const e = assertClose(
        await wo.readFloat(),
        reduceRowsRef(pos, ws, size, "sum", 1),
        TOL,
        "wsumAll",
        seed,
      );
      console.log(`  ${errs.join(", ")}, weightedSum ${e.toExponential(2)}`);
    });
  }
});

gpuTest(
  "reduce: extremes, many rows (grid over y), empty rows and shape errors",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    await t.step("±1e4 and −inf", async () => {
      const xs = Float32Array.from([
        -Infinity,
        -1e4,
        -Infinity,
        -Infinity,
        1e4,
        3,
        -Infinity,
        -Infinity,
      ]);
      using x = Tensor.from(gpu, xs, [4, 2]);
      using m = rowMax(x);
      assert.deepEqual([...await m.readFloat()], [-1e4, -Infinity, 1e4, -Infinity]);
      using ma = maxAll(x);
      assert.equal((await ma.readFloat())[0], 1e4);
      using s = rowSum(x);
      assert.deepEqual([...await s.readFloat()], [-Infinity, -Infinity, 1e4 + 3, -Infinity]);
    });
    await t.step("65537 rows × 3 (one more row than a grid dimension holds)", async () => {
      const rows = 65537;
      const xs = rng.uniforms(rows * 3, 0, 1);
      using x = Tensor.from(gpu, xs, [rows, 3]);
      using out = poisoned(gpu, [rows]);
      rowSum(x, { out });
      assert.ok(relativeError(await out.readFloat(), reduceRowsRef(xs, null, 3, "sum")) < TOL);
    });
    await t.step("n = 0", async () => {
      using x = Tensor.empty(gpu, [2, 0]);
      using s = rowSum(x);
      using m = rowMax(x);
      assert.deepEqual([...await s.readFloat()], [0, 0]);
      assert.deepEqual([...await m.readFloat()], [-Infinity, -Infinity]);
    });
    await t.step("errors", () => {
      using x = Tensor.zeros(gpu, [2, 3]);
      using w = Tensor.zeros(gpu, [3, 2]);
      using o = Tensor.zeros(gpu, [3]);
      assert.throws(() => rowWeightedSum(x, w), /must match/);
      assert.throws(() => rowSum(x, { out: o }), /must hold \[2\]/);
      assert.throws(() => sumAll(x, { out: o }), /must hold \[\]/);
    });
  },
);
