import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { emaDecay, emaUpdate } from "./ema.ts";
import { emaRef } from "./ema_ref.ts";

// Each update rounds ema − (1 − d)(ema − p) once or twice in f32 (~1e-7 relative); over ten
// updates the shadow's *change* (compared, since the shadow itself barely moves at d ≈ 1) stays
// within ~1e-6.
const TOL = 1e-5;

gpuTest("emaUpdate: several updates against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const n of [1, 255, 257, 10_007, 100_003]) {
    await t.step(`n=${n}`, async () => {
      const e0 = rng.normals(n);
      using ema = Tensor.from(gpu, e0, [n]);
      using param = Tensor.empty(gpu, [n]);
      const want = Float64Array.from(e0);
      for (let k = 1; k <= 10; k++) {
        // The warm-up decays (0.18, 0.25, …), then one near 1 as in steady state.
        const decay = k < 10 ? emaDecay(k) : 0.9999;
        const ps = rng.normals(n);
        param.write(ps);
        emaUpdate(ema, param, decay);
        emaRef(want, ps, decay);
      }
      const got = await ema.readFloat();
      const err = assertClose(
        got.map((x, i) => x - e0[i]),
        want.map((x, i) => x - e0[i]),
        TOL,
        "ema change",
        seed,
      );
      console.log(`  relative error of the change ${err.toExponential(2)}`);
    });
  }
});

Deno.test("emaDecay: the reference's warm-up", () => {
  assert.equal(emaDecay(1), 2 / 11);
  assert.equal(emaDecay(90), 91 / 100);
  assert.equal(emaDecay(1_000_000), 0.9999);
  assert.equal(emaDecay(5, 0.5), 0.4);
  assert.equal(emaDecay(50, 0.5), 0.5);
  assert.throws(() => emaDecay(0), RangeError);
});

gpuTest("emaUpdate: argument errors", (_t, gpu) => {
  using a = Tensor.zeros(gpu, [6]);
  using b = Tensor.zeros(gpu, [2, 3]);
  using c = Tensor.zeros(gpu, [5]);
  emaUpdate(a, b, 0.5); // shapes may differ when sizes agree
  assert.throws(() => emaUpdate(a, c, 0.5), ShapeError);
  assert.throws(() => emaUpdate(a, a, 0.5), ShapeError);
  assert.throws(() => emaUpdate(a, b, 1.5), RangeError);
  return Promise.resolve();
});
