import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { assertGradient, centralDifferences, pick, sampleIndices } from "../_finite_diff.ts";
import { residualBackward } from "./residual_backward.ts";
import { residualBackwardRef } from "./residual_backward_ref.ts";
import { residualRef } from "./residual_ref.ts";

const SAMPLES = 20;

/** Chunk `chunk` of `[B, 6d]` rows as a `[B, d]` array. */
function chunkOf(ms: ArrayLike<number>, B: number, d: number, chunk: number): Float64Array {
  const out = new Float64Array(B * d);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < d; j++) out[b * d + j] = ms[b * 6 * d + chunk * d + j];
  }
  return out;
}

gpuTest("residualBackward: against the reference and finite differences", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const [B, S, d] of [[1, 1, 1], [2, 3, 5], [3, 17, 33], [2, 129, 257], [2, 40, 768]]) {
    await t.step(`B=${B} S=${S} d=${d} gate_mlp = chunk 5 of [B, 6d]`, async () => {
      const xs = rng.normals(B * S * d), ys = rng.normals(B * S * d);
      const ms = rng.normals(B * 6 * d), douts = rng.normals(B * S * d);
      using mod = Tensor.from(gpu, ms, [B, 6 * d]);
      using y = Tensor.from(gpu, ys, [B, S, d]);
      using dout = Tensor.from(gpu, douts, [B, S, d]);
      using dy = poisoned(gpu, [B, S, d]);
      using dmod = poisoned(gpu, [B, 6 * d]);
      const g = residualBackward(dout, y, { tensor: mod, chunk: 5 }, {
        dy,
        dgate: { tensor: dmod, chunk: 5 },
      });
      assert.equal(g.dy, dy);
      const gate = chunkOf(ms, B, d, 5);
      const ref = residualBackwardRef(douts, ys, gate, B, d);
      const gotDy = await dy.readFloat();
      const gotGate = chunkOf(await dmod.readFloat(), B, d, 5);
      const e1 = assertClose(gotDy, ref.dy, 1e-5, "dy", seed);
      const e2 = assertClose(gotGate, ref.dgate, 1e-5, "dgate", seed);

      // Finite differences of Σ dout ⊙ (x + gate ⊙ y) with respect to x, y and the gate.
      const x64 = Float64Array.from(xs), y64 = Float64Array.from(ys), g64 = Float64Array.from(gate);
      const fwd = () => residualRef(x64, y64, g64, B, d);
      const ix = sampleIndices(rng, x64.length, SAMPLES);
      const iy = sampleIndices(rng, y64.length, SAMPLES);
      const ig = sampleIndices(rng, g64.length, SAMPLES);
      const fdx = centralDifferences(fwd, douts, x64, ix);
      const fdy = centralDifferences(fwd, douts, y64, iy);
      const fdg = centralDifferences(fwd, douts, g64, ig);
      const f1 = assertGradient(pick(ref.dx, ix), fdx, 1e-6, "ref dx vs FD", seed);
      const f2 = assertGradient(pick(ref.dy, iy), fdy, 1e-6, "ref dy vs FD", seed);
      const f3 = assertGradient(pick(ref.dgate, ig), fdg, 1e-6, "ref dgate vs FD", seed);
      assertGradient(pick(douts, ix), fdx, 1e-5, "GPU dx (= dout) vs FD", seed);
      assertGradient(pick(gotDy, iy), fdy, 1e-5, "GPU dy vs FD", seed);
      assertGradient(pick(gotGate, ig), fdg, 1e-5, "GPU dgate vs FD", seed);
      console.log(
        `  GPU vs ref ${e1.toExponential(2)} / ${e2.toExponential(2)}, ref vs FD ` +
          `${f1.toExponential(2)} / ${f2.toExponential(2)} / ${f3.toExponential(2)}`,
      );
    });
  }
});

gpuTest("residualBackward: [B, d] gate, dy over y, accumulating dgate", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [B, S, d] = [3, 70, 65];
  const ys = rng.normals(B * S * d), gs = rng.normals(B * d), douts = rng.normals(B * S * d);
  using y = Tensor.from(gpu, ys, [B, S, d]);
  using gate = Tensor.from(gpu, gs, [B, d]);
  using dout = Tensor.from(gpu, douts, [B, S, d]);
  const ref = residualBackwardRef(douts, ys, gs, B, d);
  await t.step("plain gate tensor, default dgate", async () => {
    const g = residualBackward(dout, y, gate);
    using _dy = g.dy, dgate = g.dgate.tensor;
    assert.deepEqual(dgate.shape, [B, d]);
    assertClose(await g.dy.readFloat(), ref.dy, 1e-5, "dy", seed);
    assertClose(await dgate.readFloat(), ref.dgate, 1e-5, "dgate", seed);
  });
  await t.step("dy overwrites y; dgate accumulates into chunk 2 of [B, 6d]", async () => {
    const base = rng.normals(B * 6 * d);
    using dmod = Tensor.from(gpu, base, [B, 6 * d]);
    residualBackward(dout, y, gate, { dy: y, dgate: { tensor: dmod, chunk: 2 }, accumulate: true });
    assertClose(await y.readFloat(), ref.dy, 1e-5, "dy in y", seed);
    const want = Float64Array.from(base);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < d; j++) want[b * 6 * d + 2 * d + j] += ref.dgate[b * d + j];
    }
    assertClose(await dmod.readFloat(), want, 1e-5, "dgate accumulated", seed);
  });
});

gpuTest("residualBackward: rejects bad gates and overlaps", (_t, gpu) => {
  using dout = Tensor.zeros(gpu, [2, 3, 8]);
  using y = Tensor.zeros(gpu, [2, 3, 8]);
  using mod = Tensor.zeros(gpu, [2, 48]);
  using g9 = Tensor.zeros(gpu, [2, 9]);
  using grad1 = Tensor.zeros(gpu, [1, 48]);
  const gate = { tensor: mod, chunk: 2 };
  assert.throws(() => residualBackward(dout, y, g9), ShapeError);
  assert.throws(() => residualBackward(dout, y, { tensor: mod, chunk: 6 }), ShapeError);
  assert.throws(() => residualBackward(dout, y, gate, { dy: dout }), ShapeError);
  assert.throws(
    () => residualBackward(dout, y, gate, { dgate: { tensor: grad1, chunk: 2 } }),
    ShapeError,
  );
  assert.throws(
    () => residualBackward(dout, y, gate, { dgate: { tensor: y, chunk: 0 } }),
    ShapeError,
  );
  return Promise.resolve();
});
