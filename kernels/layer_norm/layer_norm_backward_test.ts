import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { assertGradient, centralDifferences, pick, sampleIndices } from "../_finite_diff.ts";
import { layerNormBackward } from "./layer_norm_backward.ts";
import { layerNormBackwardRef } from "./layer_norm_backward_ref.ts";
import { layerNormRef } from "./layer_norm_ref.ts";

// As the forward: d = 1 (degenerate: LN(x) = 0), sizes around the workgroup sizes (32…256)
// and the small model's 768; S large enough for several col_sum row chunks.
const SHAPES = [[1, 1, 1], [2, 3, 3], [3, 17, 33], [2, 9, 257], [2, 70, 768], [1, 2, 1000]];
const SAMPLES = 20;

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

const noNaN = (a: Float32Array) => a.map((v) => (Number.isNaN(v) ? 0 : v));

gpuTest(
  "layerNormBackward: plain, against the reference and finite differences",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    for (const [B, S, d] of SHAPES) {
      await t.step(`B=${B} S=${S} d=${d}`, async () => {
        const xs = rng.normals(B * S * d, 2), ws = rng.uniforms(d, 0.5, 1.5);
        const dys = rng.normals(B * S * d);
        using x = Tensor.from(gpu, xs, [B, S, d]);
        using w = Tensor.from(gpu, ws, [d]);
        using dy = Tensor.from(gpu, dys, [B, S, d]);
        using dx = poisoned(gpu, [B, S, d]);
        using dw = poisoned(gpu, [d]);
        const g = layerNormBackward(dy, x, w, { dx, dw });
        assert.equal(g.dx, dx);
        assert.equal(g.dw, dw);
        const ref = layerNormBackwardRef(dys, xs, ws, d);
        const gotDx = await dx.readFloat(), gotDw = await dw.readFloat();
        const e1 = assertClose(gotDx, ref.dx, 1e-5, "dx", seed);
        const e2 = assertClose(gotDw, ref.dw, 1e-5, "dw", seed);

        const x64 = Float64Array.from(xs), w64 = Float64Array.from(ws);
        const fwd = () => layerNormRef(x64, w64, d);
        const ix = sampleIndices(rng, x64.length, SAMPLES);
        const iw = sampleIndices(rng, d, SAMPLES);
        const fdx = centralDifferences(fwd, dys, x64, ix),
          fdw = centralDifferences(fwd, dys, w64, iw);
        const f1 = assertGradient(pick(ref.dx, ix), fdx, 1e-6, "ref dx vs FD", seed);
        const f2 = assertGradient(pick(ref.dw, iw), fdw, 1e-6, "ref dw vs FD", seed);
        assertGradient(pick(gotDx, ix), fdx, 1e-5, "GPU dx vs FD", seed);
        assertGradient(pick(gotDw, iw), fdw, 1e-5, "GPU dw vs FD", seed);
        console.log(
          `  GPU vs ref ${e1.toExponential(2)} / ${e2.toExponential(2)}, ` +
            `ref vs FD ${f1.toExponential(2)} / ${f2.toExponential(2)}`,
        );
      });
    }
  },
);

gpuTest(
  "layerNormBackward: fused adaLN (chunks 3, 4 of [B, 6d]) and finite differences",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    for (const [B, S, d] of SHAPES) {
      await t.step(`B=${B} S=${S} d=${d}`, async () => {
        const xs = rng.normals(B * S * d), ws = rng.uniforms(d, 0.5, 1.5);
        const ms = rng.normals(B * 6 * d, 0.5), dys = rng.normals(B * S * d);
        using x = Tensor.from(gpu, xs, [B, S, d]);
        using w = Tensor.from(gpu, ws, [d]);
        using mod = Tensor.from(gpu, ms, [B, 6 * d]);
        using dy = Tensor.from(gpu, dys, [B, S, d]);
        using dx = poisoned(gpu, [B, S, d]);
        using dw = poisoned(gpu, [d]);
        using dmod = poisoned(gpu, [B, 6 * d]);
        layerNormBackward(dy, x, w, {
          shift: { tensor: mod, chunk: 3 },
          scale: { tensor: mod, chunk: 4 },
          dx,
          dw,
          dshift: { tensor: dmod, chunk: 3 },
          dscale: { tensor: dmod, chunk: 4 },
        });
        const scale = { data: ms, stride: 6 * d, chunk: 4 };
        const ref = layerNormBackwardRef(dys, xs, ws, d, 1e-5, { scale, batch: B });
        const refMod = scatter(B, 6, d, [[3, ref.dshift!], [4, ref.dscale!]]);
        const gotDx = await dx.readFloat(), gotDw = await dw.readFloat();
        const gotMod = noNaN(await dmod.readFloat());
        const e1 = assertClose(gotDx, ref.dx, 1e-5, "dx", seed);
        const e2 = assertClose(gotDw, ref.dw, 1e-5, "dw", seed);
        const e3 = assertClose(gotMod, refMod, 1e-5, "dshift/dscale", seed);

        const x64 = Float64Array.from(xs), w64 = Float64Array.from(ws), m64 = Float64Array.from(ms);
        const fwd = () =>
          layerNormRef(x64, w64, d, 1e-5, {
            shift: { data: m64, stride: 6 * d, chunk: 3 },
            scale: { data: m64, stride: 6 * d, chunk: 4 },
            batch: B,
          });
        const ix = sampleIndices(rng, x64.length, SAMPLES);
        const iw = sampleIndices(rng, d, SAMPLES);
        const im = sampleIndices(rng, m64.length, 2 * SAMPLES);
        const fdx = centralDifferences(fwd, dys, x64, ix),
          fdw = centralDifferences(fwd, dys, w64, iw);
        const fdm = centralDifferences(fwd, dys, m64, im);
        const f1 = assertGradient(pick(ref.dx, ix), fdx, 1e-6, "ref dx vs FD", seed);
        const f2 = assertGradient(pick(ref.dw, iw), fdw, 1e-6, "ref dw vs FD", seed);
        const f3 = assertGradient(pick(refMod, im), fdm, 1e-6, "ref dmod vs FD", seed);
        assertGradient(pick(gotDx, ix), fdx, 1e-5, "GPU dx vs FD", seed);
        assertGradient(pick(gotDw, iw), fdw, 1e-5, "GPU dw vs FD", seed);
        assertGradient(pick(gotMod, im), fdm, 1e-5, "GPU dmod vs FD", seed);
        console.log(
          `  GPU vs ref ${e1.toExponential(2)} / ${e2.toExponential(2)} / ${
            e3.toExponential(2)
          }, ` +
            `ref vs FD ${f1.toExponential(2)} / ${f2.toExponential(2)} / ${f3.toExponential(2)}`,
        );
      });
    }
  },
);

gpuTest(
  "layerNormBackward: accumulation, default gradients, final-layer [1, 2d]",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    const [B, S, d] = [3, 7, 65];
    const xs = rng.normals(B * S * d), ws = rng.uniforms(d, 0.5, 1.5), dys = rng.normals(B * S * d);
    using x = Tensor.from(gpu, xs, [B, S, d]);
    using w = Tensor.from(gpu, ws, [d]);
    using dy = Tensor.from(gpu, dys, [B, S, d]);
    await t.step("accumulateDx and accumulate add onto the given gradients", async () => {
      const ms = rng.normals(2 * d), baseX = rng.normals(B * S * d), baseW = rng.normals(d);
      const baseM = rng.normals(2 * d);
      using mod = Tensor.from(gpu, ms, [1, 2 * d]);
      using dx = Tensor.from(gpu, baseX, [B, S, d]);
      using dw = Tensor.from(gpu, baseW, [d]);
      using dmod = Tensor.from(gpu, baseM, [1, 2 * d]);
      layerNormBackward(dy, x, w, {
        shift: { tensor: mod, chunk: 0 },
        scale: { tensor: mod, chunk: 1 },
        dx,
        dw,
        dshift: { tensor: dmod, chunk: 0 },
        dscale: { tensor: dmod, chunk: 1 },
        accumulateDx: true,
        accumulate: true,
      });
      const ref = layerNormBackwardRef(dys, xs, ws, d, 1e-5, {
        scale: { data: ms, stride: 2 * d, chunk: 1 },
        batch: 1,
      });
      const refMod = scatter(1, 2, d, [[0, ref.dshift!], [1, ref.dscale!]]);
      assertClose(await dx.readFloat(), ref.dx.map((v, i) => v + baseX[i]), 1e-5, "dx acc", seed);
      assertClose(await dw.readFloat(), ref.dw.map((v, i) => v + baseW[i]), 1e-5, "dw acc", seed);
      assertClose(await dmod.readFloat(), refMod.map((v, i) => v + baseM[i]), 1e-5, "dmod", seed);
    });
    await t.step(
      "defaults: new dx, dw and one zeroed gradient tensor for both chunks",
      async () => {
        const ms = rng.normals(B * 6 * d);
        using mod = Tensor.from(gpu, ms, [B, 6 * d]);
        const g = layerNormBackward(dy, x, w, {
          shift: { tensor: mod, chunk: 0 },
          scale: { tensor: mod, chunk: 1 },
        });
        using _dx = g.dx, _dw = g.dw, dmod = g.dshift!.tensor;
        assert.equal(g.dscale!.tensor, dmod);
        const ref = layerNormBackwardRef(dys, xs, ws, d, 1e-5, {
          scale: { data: ms, stride: 6 * d, chunk: 1 },
          batch: B,
        });
        assertClose(await g.dx.readFloat(), ref.dx, 1e-5, "dx", seed);
        assertClose(await g.dw.readFloat(), ref.dw, 1e-5, "dw", seed);
        const refMod = scatter(B, 6, d, [[0, ref.dshift!], [1, ref.dscale!]]);
        assertClose(await dmod.readFloat(), refMod, 1e-5, "dmod", seed);
      },
    );
  },
);

gpuTest("layerNormBackward: more rows than one grid dimension holds (65535)", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [rows, d] = [70001, 3];
  const xs = rng.normals(rows * d), ws = rng.uniforms(d, 0.5, 1.5), dys = rng.normals(rows * d);
  using x = Tensor.from(gpu, xs, [rows, d]);
  using w = Tensor.from(gpu, ws, [d]);
  using dy = Tensor.from(gpu, dys, [rows, d]);
  using dx = poisoned(gpu, [rows, d]);
  using dw = layerNormBackward(dy, x, w, { dx }).dw;
  const ref = layerNormBackwardRef(dys, xs, ws, d);
  assertClose(await dx.readFloat(), ref.dx, 1e-5, "dx many rows", seed);
  assertClose(await dw.readFloat(), ref.dw, 1e-5, "dw many rows", seed);
});

gpuTest("layerNormBackward: rejects overlaps, half a modulation, bad gradients", (_t, gpu) => {
  using x = Tensor.zeros(gpu, [2, 3, 8]);
  using dy = Tensor.zeros(gpu, [2, 3, 8]);
  using w = Tensor.zeros(gpu, [8]);
  using mod = Tensor.zeros(gpu, [2, 16]);
  using grad1 = Tensor.zeros(gpu, [1, 16]);
  const sh = { tensor: mod, chunk: 0 }, sc = { tensor: mod, chunk: 1 };
  assert.throws(() => layerNormBackward(dy, x, w, { dx: x }), ShapeError);
  assert.throws(() => layerNormBackward(dy, x, w, { dx: dy }), ShapeError);
  assert.throws(() => layerNormBackward(dy, x, w, { shift: sh }), ShapeError);
  assert.throws(() => layerNormBackward(dy, x, w, { accumulateDx: true }), ShapeError);
  assert.throws(
    () =>
      layerNormBackward(dy, x, w, { shift: sh, scale: sc, dshift: { tensor: grad1, chunk: 0 } }),
    ShapeError,
  );
  return Promise.resolve();
});
