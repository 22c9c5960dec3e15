import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { batchColSum, colSum, columnSums } from "./col_sum.ts";
import { colSumRef } from "./col_sum_ref.ts";

// [rows, n]: single elements, n below/between/above the column tiles (1 … 64), rows that need
// several row chunks (chunk = 64 rows at n ≥ 64, 4096 at n = 1), and a wide vocab-like n.
const SHAPES = [[1, 1], [0, 7], [3, 5], [10000, 1], [513, 65], [300, 768], [37, 3001], [2, 50258]];

gpuTest("colSum: sums over every row against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const [rows, n] of SHAPES) {
    await t.step(`[${rows}, ${n}]`, async () => {
      // Mean 0.5: a column of zero-mean values can sum to almost nothing by chance, and the
      // relative error of such a cancelled sum says nothing about the kernel (seen at n = 1).
      const xs = rng.normals(rows * n).map((v) => v + 0.5);
      using x = Tensor.from(gpu, xs, [rows, n]);
      using out = poisoned(gpu, [n]);
      assert.equal(colSum(x, { out }), out);
      const err = assertClose(await out.readFloat(), colSumRef(xs, n), 1e-5, "colSum", seed);
      console.log(`  relative error ${err.toExponential(2)}`);
    });
  }
});

gpuTest("colSum: accumulates into out and is bit-reproducible", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [rows, n] = [777, 130];
  const xs = rng.normals(rows * n), base = rng.normals(n);
  using x = Tensor.from(gpu, xs, [3, 259, n]);
  using out = Tensor.from(gpu, base, [n]);
  colSum(x, { out, accumulate: true });
  const want = colSumRef(xs, n).map((v, j) => v + base[j]);
  assertClose(await out.readFloat(), want, 1e-5, "colSum accumulate", seed);
  const first = await colSum(x).readFloat();
  const second = await colSum(x).readFloat();
  assert.deepEqual(first, second);
});

gpuTest("batchColSum: per-batch sums, into adaLN gradient chunks", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const [B, S, n] of [[1, 1, 1], [2, 3, 5], [3, 17, 33], [2, 300, 65], [4, 129, 257]]) {
    await t.step(`B=${B} S=${S} n=${n} out`, async () => {
      const xs = rng.normals(B * S * n);
      using x = Tensor.from(gpu, xs, [B, S, n]);
      using out = poisoned(gpu, [B, n]);
      batchColSum(x, { out });
      const err = assertClose(await out.readFloat(), colSumRef(xs, n, B), 1e-5, "batch", seed);
      console.log(`  relative error ${err.toExponential(2)}`);
    });
    await t.step(`B=${B} S=${S} n=${n} into chunk 4 of [B, 6n], then accumulate`, async () => {
      const xs = rng.normals(B * S * n), gs = rng.normals(B * 6 * n);
      using x = Tensor.from(gpu, xs, [B, S, n]);
      using grad = Tensor.from(gpu, gs, [B, 6 * n]);
      batchColSum(x, { into: { tensor: grad, chunk: 4 } });
      batchColSum(x, { into: { tensor: grad, chunk: 1 }, accumulate: true });
      const sums = colSumRef(xs, n, B);
      const want = Float64Array.from(gs);
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < n; j++) {
          want[b * 6 * n + 4 * n + j] = sums[b * n + j];
          want[b * 6 * n + n + j] += sums[b * n + j];
        }
      }
      assertClose(await grad.readFloat(), want, 1e-5, "batch into chunk", seed);
    });
  }
  await t.step("batch-1 gradient chunk sums every row; flat x with explicit batch", async () => {
    const [B, S, n] = [3, 11, 40];
    const xs = rng.normals(B * S * n);
    using x = Tensor.from(gpu, xs, [B, S, n]);
    using flat = Tensor.from(gpu, xs, [B * S, n]);
    using grad = poisoned(gpu, [1, 2 * n]);
    batchColSum(x, { into: { tensor: grad, chunk: 1 } });
    const got = (await grad.readFloat()).slice(n);
    assertClose(got, colSumRef(xs, n), 1e-5, "batch-1 chunk", seed);
    using out = batchColSum(flat, { batch: B });
    assertClose(await out.readFloat(), colSumRef(xs, n, B), 1e-5, "flat batch", seed);
  });
});

gpuTest("columnSums: product mode Σ a ⊙ b, with row chunks", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [B, S, n] = [2, 1000, 70];
  const as = rng.normals(B * S * n), bs = rng.normals(B * S * n);
  using a = Tensor.from(gpu, as, [B, S, n]);
  using b = Tensor.from(gpu, bs, [B, S, n]);
  using out = poisoned(gpu, [B, n]);
  columnSums(a, b, n, B, { tensor: out, stride: n, offset: 0 }, false);
  assertClose(await out.readFloat(), colSumRef(as, n, B, bs), 1e-5, "product", seed);
});

gpuTest("colSum: rejects bad outputs and batches", (_t, gpu) => {
  using x = Tensor.zeros(gpu, [2, 3, 8]);
  using out7 = Tensor.zeros(gpu, [7]);
  using grad = Tensor.zeros(gpu, [3, 16]);
  assert.throws(() => colSum(x, { out: out7 }), ShapeError);
  assert.throws(() => batchColSum(x, { batch: 4 }), ShapeError);
  assert.throws(() => batchColSum(x, { into: { tensor: grad, chunk: 0 } }), ShapeError);
  assert.throws(() => batchColSum(x, { into: { tensor: x, chunk: 0 } }), ShapeError);
  return Promise.resolve();
});
