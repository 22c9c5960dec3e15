import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { buildEmbeddingCsr, embeddingBackward, uploadEmbeddingCsr } from "./embedding_backward.ts";
import { embeddingBackwardRef } from "./embedding_backward_ref.ts";
import { embeddingRef } from "./embedding_ref.ts";
import { finiteDifferenceError, sampleIndices } from "../_finite_diff.ts";

/** Ids with many repeats (a Zipf-like skew towards small ids), as real batches have. */
function skewedIds(rng: Rng, count: number, vocab: number): Int32Array {
  return Int32Array.from({ length: count }, () => Math.floor(vocab * rng.next() ** 3));
}

/** The kernel's exact order: per id, an f32 running sum over ascending positions. */
function sequentialF32(ids: Int32Array, dh: Float32Array, vocab: number, width: number) {
  const de = new Float32Array(vocab * width);
  for (let n = 0; n < ids.length; n++) {
    for (let j = 0; j < width; j++) {
      const at = ids[n] * width + j;
      de[at] = Math.fround(de[at] + dh[n * width + j]);
    }
  }
  return de;
}

Deno.test("buildEmbeddingCsr: groups positions by id in order", () => {
  const csr = buildEmbeddingCsr([3, 0, 3, 5, 0, 3], 7);
  assert.deepEqual([...csr.rows], [0, 3, 5]);
  assert.deepEqual([...csr.starts], [0, 2, 5, 6]);
  assert.deepEqual([...csr.positions], [1, 4, 0, 2, 5, 3]);
  assert.deepEqual([...buildEmbeddingCsr([], 4).starts], [0]);
  assert.throws(() => buildEmbeddingCsr([0, 7], 7), RangeError);
  assert.throws(() => buildEmbeddingCsr([-1], 7), RangeError);
});

gpuTest("embeddingBackward: against the float64 reference, bit-reproducible", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const cases: [number, number, number][] = [
    // [positions, V, d]
    [1, 1, 1],
    [6, 3, 5],
    [51, 50, 33],
    [80, 300, 129],
    [300, 61, 257],
    [1024, 5000, 64],
  ];
  for (const [count, vocab, width] of cases) {
    await t.step(`N=${count} V=${vocab} d=${width}`, async () => {
      const ids = skewedIds(rng, count, vocab);
      const dhs = rng.normals(count * width);
      using csr = uploadEmbeddingCsr(gpu, buildEmbeddingCsr(ids, vocab));
      using dh = Tensor.from(gpu, dhs, [count, width]);
      using out = poisoned(gpu, [vocab, width]);
      embeddingBackward(dh, csr, { out });
      const first = await out.readFloat();
      const want = embeddingBackwardRef(ids, dhs, vocab, width);
      const err = assertClose(first, want, 1e-6, "dE", seed);
      // The summation order is fixed, so the result is exactly the sequential f32 sum.
      assert.deepEqual(first, sequentialF32(ids, dhs, vocab, width), `exact order (seed ${seed})`);
      // A second run (after other work reused the pool) gives the same bits.
      using again = poisoned(gpu, [vocab, width]);
      embeddingBackward(dh, csr, { out: again });
      const second = await again.readFloat();
      assert.deepEqual(new Uint32Array(second.buffer), new Uint32Array(first.buffer));

      // Accumulate mode: adds this batch to an existing gradient.
      const init = rng.normals(vocab * width);
      using acc = Tensor.from(gpu, init, [vocab, width]);
      embeddingBackward(dh, csr, { out: acc, accumulate: true });
      const wantAcc = embeddingBackwardRef(ids, dhs, vocab, width, init);
      const errAcc = assertClose(await acc.readFloat(), wantAcc, 1e-6, "dE accumulate", seed);
      console.log(
        `  relative error ${err.toExponential(2)}, accumulate ${errAcc.toExponential(2)}`,
      );
    });
  }
});

gpuTest(
  "embeddingBackward: a dE over the binding limit is written in blocks of rows",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    for (const [count, vocab, width, limit] of [[200, 50, 64, 7 * 256], [333, 300, 33, 64 * 132]]) {
      await t.step(`N=${count} V=${vocab} d=${width} limit ${limit} B`, async () => {
        const ids = skewedIds(rng, count, vocab);
        ids[0] = vocab - 1; // the last block's last row
        const dhs = rng.normals(count * width);
        using csr = uploadEmbeddingCsr(gpu, buildEmbeddingCsr(ids, vocab));
        using dh = Tensor.from(gpu, dhs, [count, width]);
        using out = poisoned(gpu, [vocab, width]);
        embeddingBackward(dh, csr, { out, maxBindingBytes: limit });
        assert.deepEqual(await out.readFloat(), sequentialF32(ids, dhs, vocab, width));
        const init = rng.normals(vocab * width);
        using acc = Tensor.from(gpu, init, [vocab, width]);
        embeddingBackward(dh, csr, { out: acc, accumulate: true, maxBindingBytes: limit });
        const want = embeddingBackwardRef(ids, dhs, vocab, width, init);
        assertClose(await acc.readFloat(), want, 1e-6, "dE accumulate", seed);
      });
    }
  },
);

Deno.test("embeddingBackwardRef: matches central differences of the gather", () => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [count, vocab, width] = [40, 12, 5];
  const ids = skewedIds(rng, count, vocab);
  const c = Float64Array.from(rng.normals(count * width)); // the random projection
  const table = Float64Array.from(rng.normals(vocab * width));
  const f = (e: Float64Array) =>
    embeddingRef(ids, e, vocab, width).reduce((s, h, i) => s + c[i] * h, 0);
  const grad = embeddingBackwardRef(ids, c, vocab, width);
  const idx = sampleIndices(rng, vocab * width, 40, [ids[0] * width]);
  const err = finiteDifferenceError(f, table, grad, idx);
  assert.ok(err < 1e-6, `finite-difference error ${err} (seed ${seed})`);
});

gpuTest("embeddingBackward: shape errors", (_t, gpu) => {
  using csr = uploadEmbeddingCsr(gpu, buildEmbeddingCsr([1, 2, 1], 4));
  using dh = Tensor.zeros(gpu, [3, 8]);
  using bad = Tensor.zeros(gpu, [4, 8]);
  using wrongOut = Tensor.zeros(gpu, [4, 7]);
  assert.throws(() => embeddingBackward(bad, csr), ShapeError);
  assert.throws(() => embeddingBackward(dh, csr, { out: wrongOut }), ShapeError);
  assert.throws(() => embeddingBackward(dh, csr, { accumulate: true }), /accumulate/);
  return Promise.resolve();
});
