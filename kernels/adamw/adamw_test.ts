import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { adamw } from "./adamw.ts";
import { adamwRef } from "./adamw_ref.ts";

// After k steps the f32 state carries k roundings of each update; an update is ~lr·O(1), so the
// parameter *change* (compared here, not the parameters, which would hide it) and the moments
// stay within ~1e-6 relative. Elements where √v̂ ≈ eps would amplify rounding, and normal
// gradients keep √v̂ ≫ eps.
const TOL = 1e-5;

gpuTest("adamw: several steps against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const cases: [number, number, boolean][] = [
    // [size, weightDecay, clip]
    [1, 0, false],
    [255, 0.01, true],
    [257, 0, true],
    [10_007, 0.1, false],
    [70_001, 0.05, true],
  ];
  for (const [n, weightDecay, clipped] of cases) {
    await t.step(`n=${n} wd=${weightDecay} clip=${clipped}`, async () => {
      const p0 = rng.normals(n);
      using param = Tensor.from(gpu, p0, [n]);
      using m = Tensor.zeros(gpu, [n]);
      using v = Tensor.zeros(gpu, [n]);
      using grad = Tensor.empty(gpu, [n]);
      using clip = Tensor.empty(gpu, [2]);
      const rp = Float64Array.from(p0);
      const rm = new Float64Array(n);
      const rv = new Float64Array(n);
      const beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
      for (let step = 1; step <= 5; step++) {
        const g = rng.normals(n, 0.5 + rng.next());
        const lr = 0.01 * step; // a warm-up ramp: lr changes every step
        const factor = clipped ? 0.25 + 0.75 * rng.next() : 1;
        grad.write(g);
        clip.write([123, factor]); // element 0 (the norm) must not be read
        adamw(param, grad, m, v, {
          lr,
          step,
          beta1,
          beta2,
          eps,
          weightDecay,
          clip: clipped ? clip : undefined,
        });
        adamwRef(rp, g, rm, rv, { lr, step, beta1, beta2, eps, weightDecay, clip: factor });
      }
      const gotP = await param.readFloat();
      const dGot = gotP.map((x, i) => x - p0[i]);
      const dWant = rp.map((x, i) => x - p0[i]);
      const e1 = assertClose(dGot, dWant, TOL, "param change", seed);
      const e2 = assertClose(await m.readFloat(), rm, TOL, "m", seed);
      const e3 = assertClose(await v.readFloat(), rv, TOL, "v", seed);
      console.log(
        `  Δparam ${e1.toExponential(2)}, m ${e2.toExponential(2)}, v ${e3.toExponential(2)}`,
      );
    });
  }
});

gpuTest("adamw: argument errors", (_t, gpu) => {
  using p = Tensor.zeros(gpu, [4, 3]);
  using g = Tensor.zeros(gpu, [12]);
  using m = Tensor.zeros(gpu, [12]);
  using v = Tensor.zeros(gpu, [12]);
  using short = Tensor.zeros(gpu, [11]);
  using clip3 = Tensor.zeros(gpu, [3]);
  assert.throws(() => adamw(p, short, m, v, { lr: 1, step: 1 }), ShapeError);
  assert.throws(() => adamw(p, g, m, m, { lr: 1, step: 1 }), /distinct/);
  assert.throws(() => adamw(p, g, m, v, { lr: 1, step: 0 }), RangeError);
  assert.throws(() => adamw(p, g, m, v, { lr: -1, step: 1 }), RangeError);
  assert.throws(() => adamw(p, g, m, v, { lr: 1, step: 1, beta2: 1 }), RangeError);
  assert.throws(() => adamw(p, g, m, v, { lr: 1, step: 1, clip: clip3 }), ShapeError);
  return Promise.resolve();
});
