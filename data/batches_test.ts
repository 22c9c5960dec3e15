import assert from "node:assert/strict";
import { BatchIterator, chunkSetFrom, epochPermutation } from "./batches.ts";

const chunks = chunkSetFrom(Array.from({ length: 10 }, (_, i) => new Int32Array([i, i, i])), 3);
const firstCol = (ids: Int32Array) => Array.from({ length: ids.length / 3 }, (_, r) => ids[r * 3]);

Deno.test("batch iterator", async (t) => {
  await t.step("shapes, shuffle covers every row once per epoch", () => {
    const it = new BatchIterator(chunks, { batchSize: 4, seed: 7 });
    assert.equal(it.batchesPerEpoch, 2);
    const seen: number[] = [];
    for (const b of it.epoch()) {
      assert.equal(b.ids.length, 12);
      assert.equal(b.rows, 4);
      assert.equal(b.epoch, 0);
      seen.push(...firstCol(b.ids));
    }
    assert.equal(new Set(seen).size, 8);
    assert.deepEqual(it.state, { epoch: 0, index: 2 });
    assert.equal(it.next().value.epoch, 1);
    const p = Array.from(epochPermutation(10, 7, 0));
    assert.deepEqual([...p].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.notDeepEqual(p, Array.from(epochPermutation(10, 7, 1)));
    assert.deepEqual(p, Array.from(epochPermutation(10, 7, 0)));
  });
  await t.step("saved state resumes exactly", () => {
    const a = new BatchIterator(chunks, { batchSize: 3, seed: 42 });
    for (let i = 0; i < 5; i++) a.next();
    const saved = JSON.parse(JSON.stringify(a.state));
    const rest = Array.from({ length: 7 }, () => Array.from(a.next().value.ids));
    const b = new BatchIterator(chunks, { batchSize: 3, seed: 42, state: saved });
    assert.deepEqual(Array.from({ length: 7 }, () => Array.from(b.next().value.ids)), rest);
    const c = new BatchIterator(chunks, { batchSize: 3, seed: 42 });
    c.restore(saved);
    assert.deepEqual(Array.from(c.next().value.ids), rest[0]);
  });
  await t.step("validation order keeps the last partial batch", () => {
    const it = new BatchIterator(chunks, { batchSize: 4, shuffle: false });
    const got = [...it.epoch()].map((b) => firstCol(b.ids));
    assert.deepEqual(got, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    assert.throws(() => new BatchIterator(chunks, { batchSize: 11 }), RangeError);
  });
});
