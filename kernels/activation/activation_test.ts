import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { activation, biasGelu, gelu, silu } from "./activation.ts";
import { activationRef } from "./activation_ref.ts";

const SHAPES = [[1], [3], [5, 33], [3, 257], [2, 7, 768], [70000]];

gpuTest("activation: GELU-tanh and SiLU against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const shape of SHAPES) {
    const n = shape.reduce((a, b) => a * b, 1);
    const d = shape[shape.length - 1];
    for (const op of ["gelu", "silu"] as const) {
      for (const withBias of [false, true]) {
        const name = `${withBias ? "bias+" : ""}${op} [${shape}]`;
        await t.step(`${name} separate output and in place`, async () => {
          const xs = rng.normals(n, 3), bs = rng.normals(d);
          const want = activationRef(xs, op, withBias ? bs : null, d);
          using x = Tensor.from(gpu, xs, shape);
          using b = Tensor.from(gpu, bs, [d]);
          using out = poisoned(gpu, shape);
          assert.equal(activation(x, op, withBias ? b : null, out), out);
          // Inputs are N(0, 9): outputs are O(1), except GELU's tail near −7 (~1e-13), which a
          // lone element can land in; the floor judges those by their absolute error.
          const floor = { floor: 1e-3 };
          const err = assertClose(await out.readFloat(), want, 1e-6, name, seed, floor);
          assert.equal(activation(x, op, withBias ? b : null, x), x);
          assertClose(await x.readFloat(), want, 1e-6, `${name} in place`, seed, floor);
          console.log(`  relative error ${err.toExponential(2)}`);
        });
      }
    }
  }
});

gpuTest("activation: named launchers and extreme inputs stay finite", async (_t, gpu) => {
  const seed = freshSeed();
  const xs = Float32Array.from([0, -0.5, 1e-6, -1e-6, 8, -8, 50, -50, 1e4, -1e4, 3e12, -3e12]);
  using x = Tensor.from(gpu, xs, [xs.length]);
  using bias = Tensor.from(gpu, new Float32Array(xs.length), [xs.length]);
  const g = await gelu(x).readFloat();
  const s = await silu(x).readFloat();
  const bg = await biasGelu(x, bias).readFloat();
  assert.ok(g.every(Number.isFinite) && s.every(Number.isFinite), `non-finite: ${g} / ${s}`);
  assertClose(g, activationRef(xs, "gelu"), 1e-6, "gelu extremes", seed);
  assertClose(s, activationRef(xs, "silu"), 1e-6, "silu extremes", seed);
  assertClose(bg, activationRef(xs, "gelu"), 1e-6, "biasGelu zero bias", seed);
});

gpuTest("activation: rejects a bias of the wrong width", (_t, gpu) => {
  using x = Tensor.zeros(gpu, [4, 8]);
  using b = Tensor.zeros(gpu, [4]);
  assert.throws(() => biasGelu(x, b), ShapeError);
  return Promise.resolve();
});
