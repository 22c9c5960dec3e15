import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { modulate } from "./modulate.ts";
import { modulateRef } from "./modulate_ref.ts";

const SHAPES = [[1, 1, 1], [2, 3, 5], [3, 17, 33], [2, 65, 257], [2, 7, 768]];

gpuTest("modulate: x ⊙ (1 + scale) + shift from adaLN chunks", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const [B, S, d] of SHAPES) {
    // Chunks 4 (scale_mlp) and 3 (shift_mlp) of a [B, 6d] block modulation: scale before shift
    // in memory order catches swapped offsets.
    await t.step(`B=${B} S=${S} d=${d} block chunks`, async () => {
      const xs = rng.normals(B * S * d), ms = rng.normals(B * 6 * d, 0.5);
      using x = Tensor.from(gpu, xs, [B, S, d]);
      using mod = Tensor.from(gpu, ms, [B, 6 * d]);
      using out = poisoned(gpu, [B, S, d]);
      modulate(x, { tensor: mod, chunk: 3 }, { tensor: mod, chunk: 4 }, out);
      const want = modulateRef(
        xs,
        { data: ms, stride: 6 * d, chunk: 3 },
        { data: ms, stride: 6 * d, chunk: 4 },
        B,
        d,
      );
      const err = assertClose(await out.readFloat(), want, 1e-6, "modulate", seed);
      console.log(`  relative error ${err.toExponential(2)}`);
    });
    await t.step(`B=${B} S=${S} d=${d} in place, separate [B, d] tensors`, async () => {
      const xs = rng.normals(B * S * d), shs = rng.normals(B * d), scs = rng.normals(B * d);
      using x = Tensor.from(gpu, xs, [B, S, d]);
      using sh = Tensor.from(gpu, shs, [B, d]);
      using sc = Tensor.from(gpu, scs, [B, d]);
      const r = modulate(x, { tensor: sh, chunk: 0 }, { tensor: sc, chunk: 0 }, x);
      assert.equal(r, x);
      const want = modulateRef(
        xs,
        { data: shs, stride: d, chunk: 0 },
        { data: scs, stride: d, chunk: 0 },
        B,
        d,
      );
      assertClose(await x.readFloat(), want, 1e-6, "modulate in place", seed);
    });
  }
});

gpuTest("modulate: a batch-1 modulation broadcasts over every batch", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [B, S, d] = [3, 5, 33];
  const xs = rng.normals(B * S * d), ms = rng.normals(2 * d);
  using x = Tensor.from(gpu, xs, [B, S, d]);
  using mod = Tensor.from(gpu, ms, [1, 2 * d]);
  using out = modulate(x, { tensor: mod, chunk: 0 }, { tensor: mod, chunk: 1 });
  const want = modulateRef(
    xs,
    { data: ms, stride: 2 * d, chunk: 0 },
    { data: ms, stride: 2 * d, chunk: 1 },
    1,
    d,
  );
  assertClose(await out.readFloat(), want, 1e-6, "modulate broadcast", seed);
});

gpuTest("modulate: rejects chunks that do not fit", (_t, gpu) => {
  using x = Tensor.zeros(gpu, [2, 3, 8]);
  using mod = Tensor.zeros(gpu, [2, 16]);
  using mod3 = Tensor.zeros(gpu, [3, 16]);
  assert.throws(
    () => modulate(x, { tensor: mod, chunk: 1 }, { tensor: mod, chunk: 2 }),
    ShapeError,
  );
  assert.throws(
    () => modulate(x, { tensor: mod3, chunk: 0 }, { tensor: mod3, chunk: 1 }),
    ShapeError,
  );
  assert.throws(
    () => modulate(x, { tensor: mod, chunk: 0 }, { tensor: mod3, chunk: 1 }),
    ShapeError,
  );
  return Promise.resolve();
});
