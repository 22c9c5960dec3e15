import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { gradNorm, gradNormFinalize, gradNormSlots, sumOfSquares } from "./grad_norm.ts";
import { gradNormRef } from "./grad_norm_ref.ts";

// A sum of ≤ 2.4M squares in chunks of 32 per lane, a 256-lane tree and the finalize's tree:
// the relative error of the sum stays near 1e-7, the norm's (a square root) half that.
const TOL = 1e-6;

gpuTest("gradNorm: global norm and clip factor against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const cases: [string, number[], number][] = [
    // [name, tensor sizes, maxNorm]
    ["one element", [1], 1],
    ["small tensors", [3, 255, 257, 1], 1],
    ["a model's worth of shapes", [768 * 768, 768, 3 * 768 * 768, 50258, 5], 1],
    ["not clipped", [1000, 17], 1e6],
    ["maxNorm = ∞", [4097, 33], Infinity],
  ];
  for (const [name, sizes, maxNorm] of cases) {
    await t.step(`${name}: sizes [${sizes}] maxNorm ${maxNorm}`, async () => {
      const hosts = sizes.map((n) => rng.normals(n, 0.01 + rng.next()));
      const grads = hosts.map((h) => Tensor.from(gpu, h, [h.length]));
      using out = poisoned(gpu, [2]);
      gradNorm(grads, { maxNorm, out });
      const got = await out.readFloat();
      grads.forEach((g) => g.dispose());
      const want = gradNormRef(hosts, maxNorm);
      assertClose([got[0]], [want[0]], TOL, "norm", seed);
      assertClose([got[1]], [want[1]], TOL, "clip", seed);
      console.log(
        `  norm ${got[0].toPrecision(7)} (want ${want[0].toPrecision(7)}), clip ${got[1]}`,
      );
    });
  }
  await t.step("zero gradients give norm 0 and clip 1", async () => {
    using g = Tensor.zeros(gpu, [300]);
    const got = await gradNorm([g], { maxNorm: 1 }).readFloat();
    assert.deepEqual([...got], [0, 1]);
  });
  await t.step("two runs are bit-identical", async () => {
    const h = rng.normals(100_003);
    using g = Tensor.from(gpu, h, [h.length]);
    const a = await gradNorm([g, g], { maxNorm: 1 }).readFloat();
    const b = await gradNorm([g, g], { maxNorm: 1 }).readFloat();
    assert.deepEqual(new Uint32Array(a.buffer), new Uint32Array(b.buffer));
  });
});

gpuTest("gradNorm: slots fill a caller's buffer; argument errors", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const sizes = [5000, 70_000];
  const hosts = sizes.map((n) => rng.normals(n));
  using a = Tensor.from(gpu, hosts[0], [sizes[0]]);
  using b = Tensor.from(gpu, hosts[1], [sizes[1]]);
  const slots = gradNormSlots(sizes[0]) + gradNormSlots(sizes[1]);
  using partials = poisoned(gpu, [slots + 3]); // spare slots stay unread
  let slot = sumOfSquares(a, partials, 0);
  slot = sumOfSquares(b, partials, slot);
  assert.equal(slot, slots);
  const got = await gradNormFinalize(partials, slots, { maxNorm: 2 }).readFloat();
  const want = gradNormRef(hosts, 2);
  assertClose([...got], want, TOL, "norm via slots", seed);
  assert.throws(() => sumOfSquares(b, partials, slots), ShapeError);
  assert.throws(() => gradNormFinalize(partials, slots, { maxNorm: 0 }), RangeError);
  assert.throws(() => gradNorm([], { maxNorm: 1 }), ShapeError);
});
