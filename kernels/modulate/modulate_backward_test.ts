import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { assertGradient, centralDifferences, pick, sampleIndices } from "../_finite_diff.ts";
import { modulateBackward } from "./modulate_backward.ts";
import { modulateBackwardRef } from "./modulate_backward_ref.ts";
import { modulateRef } from "./modulate_ref.ts";

const SHAPES = [[1, 1, 1], [2, 3, 5], [3, 17, 33], [2, 65, 257], [2, 7, 768]];
const SAMPLES = 24;

/** Places `[B, d]` gradients into their chunks of a zero `[B, k·d]` array. */
function scatter(B: number, k: number, d: number, parts: [number, ArrayLike<number>][]) {
  const out = new Float64Array(B * k * d);
  for (const [chunk, g] of parts) {
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < d; j++) out[b * k * d + chunk * d + j] = g[b * d + j];
    }
  }
  return out;
}

gpuTest(
  "modulateBackward: against the analytic reference and finite differences",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    for (const [B, S, d] of SHAPES) {
      await t.step(`B=${B} S=${S} d=${d} chunks 3 (shift) and 4 (scale) of [B, 6d]`, async () => {
        const xs = rng.normals(B * S * d), ms = rng.normals(B * 6 * d, 0.5);
        const dys = rng.normals(B * S * d);
        using x = Tensor.from(gpu, xs, [B, S, d]);
        using mod = Tensor.from(gpu, ms, [B, 6 * d]);
        using dy = Tensor.from(gpu, dys, [B, S, d]);
        using dx = poisoned(gpu, [B, S, d]);
        using dmod = poisoned(gpu, [B, 6 * d]);
        const g = modulateBackward(dy, x, { tensor: mod, chunk: 3 }, { tensor: mod, chunk: 4 }, {
          dx,
          dshift: { tensor: dmod, chunk: 3 },
          dscale: { tensor: dmod, chunk: 4 },
        });
        assert.equal(g.dx, dx);
        const ref = modulateBackwardRef(dys, xs, { data: ms, stride: 6 * d, chunk: 4 }, B, d);
        const gotDx = await dx.readFloat();
        const gotMod = (await dmod.readFloat()).map((v) => (Number.isNaN(v) ? 0 : v));
        const refMod = scatter(B, 6, d, [[3, ref.dshift], [4, ref.dscale]]);
        const e1 = assertClose(gotDx, ref.dx, 1e-5, "dx", seed);
        const e2 = assertClose(gotMod, refMod, 1e-5, "dshift/dscale", seed);

        // Finite differences of Σ dy ⊙ modulate(x, mod) in float64.
        const x64 = Float64Array.from(xs), m64 = Float64Array.from(ms);
        const fwd = () =>
          modulateRef(
            x64,
            { data: m64, stride: 6 * d, chunk: 3 },
            { data: m64, stride: 6 * d, chunk: 4 },
            B,
            d,
          );
        const ix = sampleIndices(rng, x64.length, SAMPLES);
        const im = sampleIndices(rng, m64.length, SAMPLES);
        const fdx = centralDifferences(fwd, dys, x64, ix),
          fdm = centralDifferences(fwd, dys, m64, im);
        const f1 = assertGradient(pick(ref.dx, ix), fdx, 1e-6, "ref dx vs FD", seed);
        const f2 = assertGradient(pick(refMod, im), fdm, 1e-6, "ref dmod vs FD", seed);
        assertGradient(pick(gotDx, ix), fdx, 1e-5, "GPU dx vs FD", seed);
        assertGradient(pick(gotMod, im), fdm, 1e-5, "GPU dmod vs FD", seed);
        console.log(
          `  GPU vs ref ${e1.toExponential(2)} / ${e2.toExponential(2)}, ` +
            `ref vs FD ${f1.toExponential(2)} / ${f2.toExponential(2)}`,
        );
      });
    }
  },
);

gpuTest(
  "modulateBackward: in place on dy, default gradients, broadcast batch 1",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    const [B, S, d] = [3, 5, 33];
    await t.step(
      "dx overwrites dy; gradient tensors default to zeros shaped like mod",
      async () => {
        const xs = rng.normals(B * S * d),
          ms = rng.normals(B * 6 * d),
          dys = rng.normals(B * S * d);
        using x = Tensor.from(gpu, xs, [B, S, d]);
        using mod = Tensor.from(gpu, ms, [B, 6 * d]);
        using dy = Tensor.from(gpu, dys, [B, S, d]);
        const g = modulateBackward(dy, x, { tensor: mod, chunk: 0 }, { tensor: mod, chunk: 1 }, {
          dx: dy,
        });
        using _dmod = g.dshift.tensor;
        assert.equal(g.dx, dy);
        assert.equal(g.dshift.tensor, g.dscale.tensor);
        assert.deepEqual(g.dshift.tensor.shape, [B, 6 * d]);
        const ref = modulateBackwardRef(dys, xs, { data: ms, stride: 6 * d, chunk: 1 }, B, d);
        assertClose(await dy.readFloat(), ref.dx, 1e-5, "dx in place", seed);
        const want = scatter(B, 6, d, [[0, ref.dshift], [1, ref.dscale]]);
        assertClose(await g.dshift.tensor.readFloat(), want, 1e-5, "default dmod", seed);
      },
    );
    await t.step("final-layer [1, 2d] modulation sums over every batch, accumulating", async () => {
      const xs = rng.normals(B * S * d), ms = rng.normals(2 * d), dys = rng.normals(B * S * d);
      const base = rng.normals(2 * d);
      using x = Tensor.from(gpu, xs, [B, S, d]);
      using mod = Tensor.from(gpu, ms, [1, 2 * d]);
      using dy = Tensor.from(gpu, dys, [B, S, d]);
      using dmod = Tensor.from(gpu, base, [1, 2 * d]);
      using g = modulateBackward(dy, x, { tensor: mod, chunk: 0 }, { tensor: mod, chunk: 1 }, {
        dshift: { tensor: dmod, chunk: 0 },
        dscale: { tensor: dmod, chunk: 1 },
        accumulate: true,
      }).dx;
      const ref = modulateBackwardRef(dys, xs, { data: ms, stride: 2 * d, chunk: 1 }, 1, d);
      const want = scatter(1, 2, d, [[0, ref.dshift], [1, ref.dscale]]).map((v, i) => v + base[i]);
      assertClose(await g.readFloat(), ref.dx, 1e-5, "broadcast dx", seed);
      assertClose(await dmod.readFloat(), want, 1e-5, "broadcast dmod accumulated", seed);
    });
  },
);

gpuTest("modulateBackward: rejects mismatched gradients", (_t, gpu) => {
  using x = Tensor.zeros(gpu, [2, 3, 8]);
  using mod = Tensor.zeros(gpu, [2, 16]);
  using grad1 = Tensor.zeros(gpu, [1, 16]);
  using grad = Tensor.zeros(gpu, [2, 16]);
  const sh = { tensor: mod, chunk: 0 }, sc = { tensor: mod, chunk: 1 };
  assert.throws(
    () => modulateBackward(x, x, sh, sc, { dshift: { tensor: grad1, chunk: 0 } }),
    ShapeError,
  );
  assert.throws(
    () =>
      modulateBackward(x, x, sh, sc, {
        dshift: { tensor: grad, chunk: 0 },
        dscale: { tensor: grad, chunk: 0 },
      }),
    ShapeError,
  );
  assert.throws(
    () => modulateBackward(x, x, sh, sc, { dshift: { tensor: x, chunk: 0 } }),
    ShapeError,
  );
  return Promise.resolve();
});
