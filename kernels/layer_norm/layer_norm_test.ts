import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { layerNorm } from "./layer_norm.ts";
import { layerNormRef } from "./layer_norm_ref.ts";

// d spans 1 (a degenerate row), sizes below, between and above the workgroup sizes (32…256),
// and the small model's 768 (three elements per lane).
const SHAPES = [[1, 1, 1], [2, 3, 3], [3, 17, 33], [2, 9, 257], [2, 5, 768], [1, 2, 1000]];

gpuTest("layerNorm: plain and fused adaLN against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const [B, S, d] of SHAPES) {
    await t.step(`B=${B} S=${S} d=${d} plain`, async () => {
      const xs = rng.normals(B * S * d, 2), ws = rng.uniforms(d, 0.5, 1.5);
      using x = Tensor.from(gpu, xs, [B, S, d]);
      using w = Tensor.from(gpu, ws, [d]);
      using out = poisoned(gpu, [B, S, d]);
      layerNorm(x, w, { out });
      const err = assertClose(await out.readFloat(), layerNormRef(xs, ws, d), 1e-5, "LN", seed);
      console.log(`  relative error ${err.toExponential(2)}`);
    });
    await t.step(`B=${B} S=${S} d=${d} modulated by block chunks 0 and 1`, async () => {
      const xs = rng.normals(B * S * d), ws = rng.uniforms(d, 0.5, 1.5);
      const ms = rng.normals(B * 6 * d, 0.5);
      using x = Tensor.from(gpu, xs, [B, S, d]);
      using w = Tensor.from(gpu, ws, [d]);
      using mod = Tensor.from(gpu, ms, [B, 6 * d]);
      using out = poisoned(gpu, [B, S, d]);
      layerNorm(x, w, { shift: { tensor: mod, chunk: 0 }, scale: { tensor: mod, chunk: 1 }, out });
      const want = layerNormRef(xs, ws, d, 1e-5, {
        shift: { data: ms, stride: 6 * d, chunk: 0 },
        scale: { data: ms, stride: 6 * d, chunk: 1 },
        batch: B,
      });
      const err = assertClose(await out.readFloat(), want, 1e-5, "LN+adaLN", seed);
      console.log(`  relative error ${err.toExponential(2)}`);
    });
  }
});

gpuTest(
  "layerNorm: final-layer modulation [1, 2d] broadcast, MLP chunks 3 and 4",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    const [B, S, d] = [3, 4, 65];
    const xs = rng.normals(B * S * d), ws = rng.uniforms(d, 0.5, 1.5);
    using x = Tensor.from(gpu, xs, [B, S, d]);
    using w = Tensor.from(gpu, ws, [d]);
    await t.step("final layer, one modulation vector for all batches", async () => {
      const ms = rng.normals(2 * d);
      using mod = Tensor.from(gpu, ms, [1, 2 * d]);
      using out = layerNorm(x, w, {
        shift: { tensor: mod, chunk: 0 },
        scale: { tensor: mod, chunk: 1 },
      });
      const want = layerNormRef(xs, ws, d, 1e-5, {
        shift: { data: ms, stride: 2 * d, chunk: 0 },
        scale: { data: ms, stride: 2 * d, chunk: 1 },
        batch: 1,
      });
      assertClose(await out.readFloat(), want, 1e-5, "LN final", seed);
    });
    await t.step("shift_mlp / scale_mlp", async () => {
      const ms = rng.normals(B * 6 * d);
      using mod = Tensor.from(gpu, ms, [B, 6 * d]);
      using out = layerNorm(x, w, {
        shift: { tensor: mod, chunk: 3 },
        scale: { tensor: mod, chunk: 4 },
      });
      const want = layerNormRef(xs, ws, d, 1e-5, {
        shift: { data: ms, stride: 6 * d, chunk: 3 },
        scale: { data: ms, stride: 6 * d, chunk: 4 },
        batch: B,
      });
      assertClose(await out.readFloat(), want, 1e-5, "LN mlp chunks", seed);
    });
  },
);

gpuTest(
  "layerNorm: rows with a large mean stay accurate (two-pass statistics)",
  async (_t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    const [rows, d] = [8, 768];
    const xs = rng.normals(rows * d);
    for (let i = 0; i < xs.length; i++) xs[i] += 1000;
    const ws = new Float32Array(d).fill(1);
    using x = Tensor.from(gpu, xs, [rows, d]);
    using w = Tensor.from(gpu, ws, [d]);
    using out = layerNorm(x, w);
    // The f32 mean of values near 1000 carries an error of about ulp(1000)/2 ≈ 3e-5, which shifts
    // every centred value by that much against σ = 1; a one-pass E[x²] − μ² would instead lose
    // about ulp(1e6)/σ² ≈ 6e-2 of the variance.
    const err = assertClose(await out.readFloat(), layerNormRef(xs, ws, d), 1e-4, "LN |μ|≫σ", seed);
    console.log(`  relative error with mean 1000: ${err.toExponential(2)}`);
  },
);

gpuTest("layerNorm: rejects in-place use, half a modulation and a wrong weight", (_t, gpu) => {
  using x = Tensor.zeros(gpu, [2, 3, 8]);
  using w = Tensor.zeros(gpu, [8]);
  using w9 = Tensor.zeros(gpu, [9]);
  using mod = Tensor.zeros(gpu, [2, 16]);
  assert.throws(() => layerNorm(x, w, { out: x }), ShapeError);
  assert.throws(() => layerNorm(x, w9), ShapeError);
  assert.throws(() => layerNorm(x, w, { shift: { tensor: mod, chunk: 0 } }), ShapeError);
  return Promise.resolve();
});

gpuTest("layerNorm: more rows than one grid dimension holds (65535)", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [rows, d] = [70001, 3];
  const xs = rng.normals(rows * d), ws = rng.uniforms(d, 0.5, 1.5);
  using x = Tensor.from(gpu, xs, [rows, d]);
  using w = Tensor.from(gpu, ws, [d]);
  using out = poisoned(gpu, [rows, d]);
  layerNorm(x, w, { out });
  assertClose(await out.readFloat(), layerNormRef(xs, ws, d), 1e-5, "LN many rows", seed);
});
