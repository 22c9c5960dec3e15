import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { dropout, dropoutBackward } from "./dropout.ts";
import { dropoutRef } from "./dropout_ref.ts";
import { finiteDifferenceError, sampleIndices } from "../_finite_diff.ts";

// Kept values are x·f32(1/(1 − p)): one rounding of the scale and one of the product.
const TOL = 1e-6;

gpuTest("dropout: forward and backward against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const cases: [number[], number][] = [
    [[1], 0.5],
    [[3, 5], 0.1],
    [[2, 17, 33], 0.1],
    [[257, 129], 0.3],
    [[4, 1000], 0.9],
    [[2, 3, 7], 1],
  ];
  for (const [shape, p] of cases) {
    await t.step(`shape=[${shape}] p=${p}`, async () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const s: [number, number] = [rng.int(0, 2 ** 32 - 1), rng.int(0, 2 ** 32 - 1)];
      const o: [number, number] = [rng.int(0, 2 ** 32 - 1), rng.int(0, 7)];
      const xs = rng.normals(n);
      const dys = rng.normals(n);
      using x = Tensor.from(gpu, xs, shape);
      using dy = Tensor.from(gpu, dys, shape);
      using y = poisoned(gpu, shape);
      using dx = poisoned(gpu, shape);
      dropout(x, { p, seed: s, offset: o, out: y });
      dropoutBackward(dy, { p, seed: s, offset: o, out: dx });
      const gotY = await y.readFloat();
      const gotDx = await dx.readFloat();
      const wantY = dropoutRef(xs, p, s, o);
      const e1 = assertClose(gotY, wantY, TOL, "y", seed);
      const e2 = assertClose(gotDx, dropoutRef(dys, p, s, o), TOL, "dx", seed);
      // The backward drops exactly the forward's positions.
      for (let i = 0; i < n; i++) {
        assert.equal(gotY[i] === 0, gotDx[i] === 0, `mask mismatch at ${i} (seed ${seed})`);
      }
      dropout(x, { p, seed: s, offset: o, out: x }); // in place
      assertClose(await x.readFloat(), wantY, TOL, "y in place", seed);
      const kept = gotY.reduce((k, v) => k + (v !== 0 ? 1 : 0), 0) / n;
      console.log(
        `  kept ${kept.toFixed(3)} (want ≈ ${(1 - p).toFixed(3)}), errors ${e1.toExponential(2)}`,
      );
      console.log(`  dx ${e2.toExponential(2)}`);
    });
  }
  await t.step("keep rate over 1e5 draws is 1 − p within 5σ", async () => {
    const n = 100_000;
    const p = 0.1;
    using x = Tensor.from(gpu, new Float32Array(n).fill(1), [n]);
    const y = await dropout(x, { p, seed: seed, offset: 3 }).readFloat();
    const kept = y.reduce((k, v) => k + (v !== 0 ? 1 : 0), 0);
    const sd = Math.sqrt(n * p * (1 - p));
    assert.ok(Math.abs(kept - n * (1 - p)) < 5 * sd, `kept ${kept} of ${n} (seed ${seed})`);
    assert.ok(y.every((v) => v === 0 || v === Math.fround(1 / 0.9)));
  });
  await t.step("p = 0 copies; another offset gives another mask", async () => {
    const xs = rng.normals(1001);
    using x = Tensor.from(gpu, xs, [1001]);
    using y = poisoned(gpu, [1001]);
    dropout(x, { p: 0, seed: 1, out: y });
    assert.deepEqual(await y.readFloat(), xs);
    dropout(x, { p: 0, seed: 1, out: x });
    assert.deepEqual(await x.readFloat(), xs);
    const a = await dropout(x, { p: 0.5, seed: 9, offset: 0 }).readFloat();
    const b = await dropout(x, { p: 0.5, seed: 9, offset: 1 }).readFloat();
    assert.notDeepEqual(a, b);
  });
});

Deno.test("dropout: the backward matches central differences of the forward reference", () => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const n = 300;
  const [p, s, o]: [number, [number, number], [number, number]] = [0.3, [seed, 1], [5, 0]];
  const xs = Float64Array.from(rng.normals(n));
  const c = Float64Array.from(rng.normals(n)); // random projection of the output
  const f = (x: Float64Array) => dropoutRef(x, p, s, o).reduce((acc, y, i) => acc + c[i] * y, 0);
  const grad = dropoutRef(c, p, s, o); // the backward: the same mask applied to dL/dy = c
  const err = finiteDifferenceError(f, xs, grad, sampleIndices(rng, n, 60));
  assert.ok(err < 1e-6, `finite-difference error ${err} (seed ${seed})`);
});

gpuTest("dropout: argument errors", (_t, gpu) => {
  using x = Tensor.zeros(gpu, [4, 5]);
  using wrong = Tensor.zeros(gpu, [3]);
  assert.throws(() => dropout(x, { p: -0.1, seed: 1 }), RangeError);
  assert.throws(() => dropout(x, { p: 1.5, seed: 1 }), RangeError);
  assert.throws(() => dropout(x, { p: NaN, seed: 1 }), RangeError);
  assert.throws(() => dropout(x, { p: 0.1, seed: -1 }), RangeError);
  assert.throws(() => dropoutBackward(x, { p: 0.1, seed: 1, out: wrong }), ShapeError);
  return Promise.resolve();
});
