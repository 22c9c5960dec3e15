import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { assertGradient, centralDifferences, pick, sampleIndices } from "../_finite_diff.ts";
import {
  activationBackward,
  biasGeluBackward,
  geluBackward,
  siluBackward,
} from "./activation_backward.ts";
import { activationBackwardRef } from "./activation_backward_ref.ts";
import { activationRef } from "./activation_ref.ts";

const SHAPES = [[1], [3], [5, 33], [3, 257], [2, 7, 768], [70000]];
const SAMPLES = 20;

/**
 * Relative error of dx with the denominator floored at 0.1·‖dy‖. f′ crosses zero (GELU near
 * x ≈ −0.75, SiLU near −1.28), and its f32 evaluation carries an absolute error of a few ulps
 * of its O(1) terms, so a tensor of one or three elements that lands near a root would fail a
 * purely relative test; a wrong derivative errs by O(‖dy‖) and still fails this one.
 */
function assertDx(
  got: Float32Array,
  want: Float64Array,
  dy: Float32Array,
  what: string,
  seed: number,
) {
  let num = 0, den = 0, dyn = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
    dyn += dy[i] ** 2;
  }
  const err = Number.isNaN(num) ? Infinity : Math.sqrt(num / Math.max(den, 0.01 * dyn));
  if (!(err < 1e-5)) assertClose(got, want, 1e-5, what, seed, { floor: 1e-3 });
  return err;
}

gpuTest("activationBackward: against the reference and finite differences", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const shape of SHAPES) {
    const n = shape.reduce((a, b) => a * b, 1);
    const d = shape[shape.length - 1];
    for (const op of ["gelu", "silu"] as const) {
      for (const withBias of [false, true]) {
        const name = `${withBias ? "bias+" : ""}${op} [${shape}]`;
        await t.step(`${name}, separate dx then in place on dy`, async () => {
          const xs = rng.normals(n, 3), bs = rng.normals(d), dys = rng.normals(n);
          using x = Tensor.from(gpu, xs, shape);
          using b = Tensor.from(gpu, bs, [d]);
          using dy = Tensor.from(gpu, dys, shape);
          using dx = poisoned(gpu, shape);
          using dbias = poisoned(gpu, [d]);
          const bias = withBias ? b : null;
          const g = activationBackward(dy, x, op, {
            bias,
            dx,
            dbias: withBias ? dbias : undefined,
          });
          assert.equal(g.dx, dx);
          const ref = activationBackwardRef(dys, xs, op, bias ? bs : null, d);
          const gotDx = await dx.readFloat();
          const e1 = assertDx(gotDx, ref.dx, dys, `${name} dx`, seed);
          let e2 = 0;
          if (withBias) {
            // A lone dbias can be a tiny sum (a GELU′ tail): judged at the data's scale.
            e2 = assertClose(await dbias.readFloat(), ref.dbias, 1e-5, "dbias", seed, {
              floor: 1e-3,
            });
          }
          activationBackward(dy, x, op, { bias, dx: dy, dbias: withBias ? dbias : undefined });
          assertDx(await dy.readFloat(), ref.dx, dys, `${name} dx in place`, seed);

          const x64 = Float64Array.from(xs), b64 = Float64Array.from(bs);
          const fwd = () => activationRef(x64, op, withBias ? b64 : null, d);
          const ix = sampleIndices(rng, n, SAMPLES);
          const fdx = centralDifferences(fwd, dys, x64, ix);
          const f1 = assertGradient(pick(ref.dx, ix), fdx, 1e-6, "ref dx vs FD", seed);
          assertGradient(pick(gotDx, ix), fdx, 1e-5, "GPU dx vs FD", seed);
          let f2 = 0;
          if (withBias) {
            const ib = sampleIndices(rng, d, SAMPLES);
            const fdb = centralDifferences(fwd, dys, b64, ib);
            f2 = assertGradient(pick(ref.dbias, ib), fdb, 1e-6, "ref dbias vs FD", seed);
          }
          console.log(
            `  GPU vs ref ${e1.toExponential(2)} / ${e2.toExponential(2)}, ` +
              `ref vs FD ${f1.toExponential(2)} / ${f2.toExponential(2)}`,
          );
        });
      }
    }
  }
});

gpuTest("activationBackward: named launchers, extreme inputs stay finite", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const xs = Float32Array.from([
    0,
    -0.5,
    1e-6,
    -1e-6,
    3,
    -3,
    8,
    -8,
    50,
    -50,
    1e4,
    -1e4,
    3e12,
    -3e12,
  ]);
  const dys = rng.normals(xs.length);
  using x = Tensor.from(gpu, xs, [2, 7]);
  using dy = Tensor.from(gpu, dys, [2, 7]);
  using zero = Tensor.zeros(gpu, [7]);
  using g = geluBackward(dy, x);
  using s = siluBackward(dy, x);
  const bg = biasGeluBackward(dy, x, zero, { accumulate: false });
  using _bdx = bg.dx, _bdb = bg.dbias;
  const gs = await g.readFloat(), ss = await s.readFloat();
  assert.ok(gs.every(Number.isFinite) && ss.every(Number.isFinite), `non-finite: ${gs} / ${ss}`);
  assertClose(gs, activationBackwardRef(dys, xs, "gelu").dx, 1e-5, "gelu′ extremes", seed);
  assertClose(ss, activationBackwardRef(dys, xs, "silu").dx, 1e-5, "silu′ extremes", seed);
  const want = activationBackwardRef(dys, xs, "gelu", new Float32Array(7), 7);
  assertClose(await bg.dx.readFloat(), want.dx, 1e-5, "biasGelu′ dx", seed);
  assertClose(await bg.dbias.readFloat(), want.dbias, 1e-5, "biasGelu′ dbias", seed);
});

gpuTest("activationBackward: dbias accumulates", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [rows, d] = [300, 70];
  const xs = rng.normals(rows * d, 2), bs = rng.normals(d), dys = rng.normals(rows * d);
  const base = rng.normals(d);
  using x = Tensor.from(gpu, xs, [rows, d]);
  using b = Tensor.from(gpu, bs, [d]);
  using dy = Tensor.from(gpu, dys, [rows, d]);
  using dbias = Tensor.from(gpu, base, [d]);
  using dx = biasGeluBackward(dy, x, b, { dbias, accumulate: true }).dx;
  const ref = activationBackwardRef(dys, xs, "gelu", bs, d);
  assertClose(await dx.readFloat(), ref.dx, 1e-5, "dx", seed);
  assertClose(await dbias.readFloat(), ref.dbias.map((v, j) => v + base[j]), 1e-5, "dbias", seed);
});

gpuTest("activationBackward: rejects bad shapes and overlaps", (_t, gpu) => {
  using x = Tensor.zeros(gpu, [4, 8]);
  using dy = Tensor.zeros(gpu, [4, 8]);
  using b = Tensor.zeros(gpu, [8]);
  using b4 = Tensor.zeros(gpu, [4]);
  assert.throws(() => biasGeluBackward(dy, x, b4), ShapeError);
  assert.throws(() => geluBackward(dy, x, x), ShapeError);
  assert.throws(() => activationBackward(dy, x, "silu", { dbias: b }), ShapeError);
  assert.throws(() => biasGeluBackward(dy, x, b, { dbias: x }), ShapeError);
  return Promise.resolve();
});
