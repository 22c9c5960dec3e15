import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import assert from "node:assert/strict";
import { attention, qkvOperands } from "../attention/attention.ts";
import { attentionRef } from "../attention/attention_ref.ts";
import { KvCache } from "./kv_cache.ts";
import { KvCacheRef, rotateRef } from "./kv_cache_ref.ts";

const TOL = 1e-5;

gpuTest(
  "kv_cache: write, commit, slide and cached attention against the reference's raw cache",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    // [B, H, D, W, b, blocks]: enough blocks to fill the window and slide several times.
    for (
      const [B, H, D, W, b, blocks] of [[2, 2, 16, 24, 8, 6], [1, 3, 12, 15, 5, 7], [
        1,
        1,
        6,
        4,
        1,
        7,
      ]]
    ) {
      await t.step(`B=${B} H=${H} D=${D} W=${W} b=${b}`, async () => {
        const d = H * D;
        using cache = new KvCache(gpu, { batch: B, capacity: W, heads: H, headDim: D });
        const refs = Array.from({ length: B }, () => new KvCacheRef(W, D));
        let slides = 0;
        for (let blk = 0; blk < blocks; blk++) {
          const p = cache.length;
          assert.equal(p, refs[0].p);
          const raw = Array.from(
            { length: B },
            () =>
              Array.from(
                { length: 3 },
                () => Array.from({ length: b }, () => Array.from(rng.normals(d))),
              ),
          );
          // qkv of the block with q and k rotated at window positions p … p+b−1 (what the rotary
          // kernel does before the cache sees them).
          const qkvHost = new Float32Array(B * b * 3 * d);
          for (let bb = 0; bb < B; bb++) {
            for (let i = 0; i < b; i++) {
              const row = (bb * b + i) * 3 * d;
              qkvHost.set(rotateRef(raw[bb][0][i], D, p + i), row);
              qkvHost.set(rotateRef(raw[bb][1][i], D, p + i), row + d);
              qkvHost.set(raw[bb][2][i], row + 2 * d);
            }
          }
          // A denoising step writes the block, a later one overwrites it.
          using junk = Tensor.from(gpu, rng.normals(qkvHost.length), [B, b, 3 * d]);
          cache.writeQkv(junk);
          using qkv = Tensor.from(gpu, qkvHost, [B, b, 3 * d]);
          cache.writeQkv(qkv);
          for (let bb = 0; bb < B; bb++) {
            refs[bb].write(raw[bb][1], raw[bb][2]);
          }

          const args = cache.attentionArgs(qkvOperands(qkv, H).q);
          using out = poisoned(gpu, [B, b, d]);
          attention({ ...args, out });
          const P = p + b;
          const kHost = new Float64Array(B * P * d), vHost = new Float64Array(B * P * d);
          for (let bb = 0; bb < B; bb++) {
            const w = refs[bb].window(P);
            w.k.forEach((row, i) => kHost.set(row, (bb * P + i) * d));
            w.v.forEach((row, i) => vHost.set(row, (bb * P + i) * d));
          }
          const want = attentionRef(
            { data: qkvHost, rowStride: 3 * d, batchStride: b * 3 * d },
            { data: kHost, rowStride: d, batchStride: P * d },
            { data: vHost, rowStride: d, batchStride: P * d },
            { batch: B, heads: H, headDim: D, seqQ: b, seqK: P },
            { kind: "cached" },
          );
          assertClose(await out.readFloat(), want.out, TOL, `block ${blk} attention`, seed);

          cache.commit();
          for (const r of refs) r.commit(b);
          if (cache.length < P) slides++;
          // The cached keys equal the raw keys freshly rotated at window-relative positions.
          const n = cache.length;
          const [gk, gv] = [await cache.k.readFloat(), await cache.v.readFloat()];
          const got = { k: new Float32Array(B * n * d), v: new Float32Array(B * n * d) };
          const exp = { k: new Float64Array(B * n * d), v: new Float64Array(B * n * d) };
          for (let bb = 0; bb < B; bb++) {
            got.k.set(gk.subarray(bb * W * d, (bb * W + n) * d), bb * n * d);
            got.v.set(gv.subarray(bb * W * d, (bb * W + n) * d), bb * n * d);
            const w = refs[bb].window(n);
            w.k.forEach((row, i) => exp.k.set(row, (bb * n + i) * d));
            w.v.forEach((row, i) => exp.v.set(row, (bb * n + i) * d));
          }
          const err = assertClose(got.k, exp.k, TOL, `block ${blk} cached keys`, seed);
          assertClose(got.v, exp.v, TOL, `block ${blk} cached values`, seed);
          if (blk === blocks - 1) {
            console.log(`    ${slides} slides, key rel err ${err.toExponential(2)}`);
          }
        }
        assert.ok(slides >= 2, `expected the window to slide, got ${slides} slides`);
      });
    }
  },
);

gpuTest("kv_cache: reset, explicit slide and capacity errors", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [B, H, D, W] = [1, 1, 8, 10];
  using cache = new KvCache(gpu, { batch: B, capacity: W, heads: H, headDim: D });
  const rows = Array.from({ length: 6 }, () => Array.from(rng.normals(D)));
  const qkvHost = new Float32Array(6 * 3 * D);
  rows.forEach((r, i) => {
    qkvHost.set(rotateRef(r, D, i), i * 3 * D + D);
    qkvHost.set(r, i * 3 * D + 2 * D);
  });
  using qkv = Tensor.from(gpu, qkvHost, [B, 6, 3 * D]);
  cache.writeQkv(qkv);
  cache.commit();
  assert.throws(() => cache.writeQkv(qkv), ShapeError); // 6 + 6 > 10
  cache.slide(4);
  assert.equal(cache.length, 2);
  const k = (await cache.k.readFloat()).subarray(0, 2 * D);
  const want = new Float64Array(2 * D);
  want.set(rotateRef(rows[4], D, 0), 0);
  want.set(rotateRef(rows[5], D, 1), D);
  assertClose(k, want, TOL, "slide(4) keys", seed);
  cache.reset();
  assert.equal(cache.length, 0);
  assert.throws(() => cache.commit(), ShapeError);
  assert.throws(
    () => new KvCache(gpu, { batch: 1, capacity: 4, heads: 1, headDim: 5 }),
    ShapeError,
  );
});
