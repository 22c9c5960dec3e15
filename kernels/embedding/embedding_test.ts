import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { embedding, timestepEmbedding } from "./embedding.ts";
import { embeddingRef, timestepRef } from "./embedding_ref.ts";

gpuTest("embedding: row gather against the reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (
    const [B, S, V, d] of [[1, 1, 1, 1], [2, 3, 7, 3], [3, 17, 50, 33], [2, 40, 300, 257], [
      2,
      9,
      61,
      768,
    ]]
  ) {
    await t.step(`B=${B} S=${S} V=${V} d=${d}`, async () => {
      const table = rng.normals(V * d);
      const idList = Int32Array.from({ length: B * S }, () => rng.int(0, V - 1));
      using ids = Tensor.from(gpu, idList, [B, S], "i32");
      using e = Tensor.from(gpu, table, [V, d]);
      using out = poisoned(gpu, [B, S, d]);
      embedding(ids, e, out);
      // A gather copies bits, so the result must be exact.
      const err = assertClose(
        await out.readFloat(),
        embeddingRef(idList, table, V, d),
        1e-12,
        "embedding",
        seed,
      );
      assert.equal(err, 0);
    });
  }
});

gpuTest(
  "embedding: out-of-range ids give NaN rows and read nothing out of bounds",
  async (_t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    const [V, d] = [10, 33];
    const table = rng.normals(V * d);
    const idList = Int32Array.from([0, -1, 9, 10, 2 ** 31 - 1, -(2 ** 31), 5, 1000]);
    using ids = Tensor.from(gpu, idList, [2, 4], "i32");
    using e = Tensor.from(gpu, table, [V, d]);
    using out = poisoned(gpu, [2, 4, d]);
    // Poison the outputs with a finite sentinel this time, so NaN can only come from the kernel.
    out.write(new Float32Array(out.size).fill(-7));
    embedding(ids, e, out);
    const got = await out.readFloat();
    const want = embeddingRef(idList, table, V, d);
    for (let r = 0; r < idList.length; r++) {
      const row = got.subarray(r * d, (r + 1) * d);
      if (idList[r] < 0 || idList[r] >= V) {
        assert.ok(row.every(Number.isNaN), `row ${r} (id ${idList[r]}) should be NaN`);
      } else {
        assertClose(row, want.subarray(r * d, (r + 1) * d), 1e-12, `row ${r}`, seed);
      }
    }
  },
);

gpuTest("timestepEmbedding: cos then sin of σ·ω against the reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  // σ = 0 (time_conditioning off: [1×128, 0×128]), the log-linear range up to σ_max ≈ 6.9,
  // and larger values where the range reduction matters.
  const cases: [string, number[]][] = [
    ["zero", [0]],
    ["log-linear range", Array.from(rng.uniforms(37, 0, 6.9078))],
    ["large σ", [10, 31.4159, 100, 1000, -3.5]],
  ];
  for (const [name, sigmas] of cases) {
    await t.step(`${name} (B=${sigmas.length})`, async () => {
      using sigma = Tensor.from(gpu, sigmas, [sigmas.length]);
      using out = poisoned(gpu, [sigmas.length, 256]);
      timestepEmbedding(sigma, out);
      // The argument σ·ω is the reference's own f32 value, so the only errors are the range
      // reduction (k·TWO_PI_HI is exact, k·TWO_PI_LO is off by ~1e-8 rad even at σ = 1000) and
      // cos/sin on [−π, π]; 1e-5 is far below a wrong-ω or wrong-order error (O(1)).
      const tol = 1e-5;
      const err = assertClose(await out.readFloat(), timestepRef(sigmas), tol, name, seed);
      console.log(`  relative error ${err.toExponential(2)}`);
    });
  }
  await t.step("σ = 0 gives exactly [1×128, 0×128]", async () => {
    using sigma = Tensor.from(gpu, [0, 0], [2]);
    const got = await timestepEmbedding(sigma).readFloat();
    for (let i = 0; i < got.length; i++) assert.equal(got[i], i % 256 < 128 ? 1 : 0);
  });
});

gpuTest("embedding: rejects wrong dtypes and shapes", (_t, gpu) => {
  using idsF = Tensor.zeros(gpu, [2, 3]);
  using ids = Tensor.zeros(gpu, [2, 3], "i32");
  using e = Tensor.zeros(gpu, [5, 4]);
  using sigma2 = Tensor.zeros(gpu, [2, 1]);
  assert.throws(() => embedding(idsF, e), ShapeError);
  assert.throws(() => embedding(ids, e, e), ShapeError);
  assert.throws(() => timestepEmbedding(sigma2), ShapeError);
  return Promise.resolve();
});

gpuTest(
  "embedding: a table over the binding limit is gathered in blocks of rows",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    // [V, d, binding limit]: 7 rows of 256 B per block; 64 rows of 132 B (the alignment step);
    // a limit above the table (one block).
    for (const [V, d, limit] of [[50, 64, 7 * 256], [300, 33, 64 * 132], [20, 64, 1 << 20]]) {
      await t.step(`V=${V} d=${d} limit ${limit} B`, async () => {
        const table = rng.normals(V * d);
        const idList = Int32Array.from({ length: 45 }, () => rng.int(0, V - 1));
        idList[3] = V; // out of range: NaN, written once
        idList[4] = V - 1;
        using ids = Tensor.from(gpu, idList, [5, 9], "i32");
        using e = Tensor.from(gpu, table, [V, d]);
        using out = poisoned(gpu, [5, 9, d]);
        embedding(ids, e, out, { maxBindingBytes: limit });
        const got = await out.readFloat();
        const want = embeddingRef(idList, table, V, d);
        for (let r = 0; r < idList.length; r++) {
          const row = got.subarray(r * d, (r + 1) * d);
          if (r === 3) assert.ok(row.every(Number.isNaN), "out-of-range id gives NaN");
          else assert.deepEqual(row, Float32Array.from(want.subarray(r * d, (r + 1) * d)));
        }
      });
    }
    await t.step("a limit below one aligned block of rows is a ShapeError", () => {
      using ids = Tensor.from(gpu, Int32Array.from([0]), [1], "i32");
      using e = Tensor.zeros(gpu, [300, 33]);
      assert.throws(
        () => embedding(ids, e, undefined, { maxBindingBytes: 1000 }),
        /cannot be split/,
      );
    });
  },
);
