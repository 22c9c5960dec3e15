import assert from "node:assert/strict";
import { padDocument, wrapAll, wrapChunks } from "./wrap.ts";

const rows = (flat: Int32Array, L: number) =>
  Array.from({ length: flat.length / L }, (_, i) => Array.from(flat.subarray(i * L, (i + 1) * L)));

Deno.test("wrap mode", async (t) => {
  // Documents [1,2,3], [4,5], [6,7,8,9]; BOS = 100, EOS = 101; L = 5 → pieces of 3.
  const docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]];
  await t.step("EOS per document, BOS/EOS per chunk, remainder dropped", async () => {
    // stream: 1 2 3 E 4 5 E 6 7 8 9 E  (12 ids) → pieces [1 2 3] [E 4 5] [E 6 7] [8 9 E]
    const out = await wrapAll(docs, { length: 5, bosId: 100, eosId: 101 });
    assert.deepEqual(rows(out, 5), [
      [100, 1, 2, 3, 101],
      [100, 101, 4, 5, 101],
      [100, 101, 6, 7, 101],
      [100, 8, 9, 101, 101],
    ]);
    const short = await wrapAll([[1, 2, 3, 4]], { length: 5, bosId: 100, eosId: 101 });
    assert.deepEqual(rows(short, 5), [[100, 1, 2, 3, 101]]); // "4 E" dropped
  });
  await t.step("insert_special_tokens = False: pieces of L", async () => {
    const out = await wrapAll(docs, {
      length: 5,
      bosId: 100,
      eosId: 101,
      insertSpecialTokens: false,
    });
    assert.deepEqual(rows(out, 5), [[1, 2, 3, 101, 4], [5, 101, 6, 7, 8]]);
  });
  await t.step("insert_eos = False", async () => {
    const out = await wrapAll(docs, { length: 4, bosId: 100, eosId: 101, insertEos: false });
    assert.deepEqual(rows(out, 4), [[100, 1, 2, 101], [100, 3, 4, 101], [100, 5, 6, 101], [
      100,
      7,
      8,
      101,
    ]]);
  });
  await t.step("groups drop their own remainders", async () => {
    // group 1: 1 2 3 E 4 5 E (7 ids) → 2 pieces, "E" dropped; group 2: 6 7 8 9 E → 1 piece
    const out = await wrapAll(docs, { length: 5, bosId: 100, eosId: 101, groupSize: 2 });
    assert.deepEqual(rows(out, 5), [[100, 1, 2, 3, 101], [100, 101, 4, 5, 101], [
      100,
      6,
      7,
      8,
      101,
    ]]);
  });
  await t.step("async sources and bad lengths", async () => {
    async function* gen() {
      yield new Int32Array([1, 2]);
      yield [3];
    }
    const got: number[][] = [];
    for await (const c of wrapChunks(gen(), { length: 3, bosId: 9, eosId: 8 })) {
      got.push(Array.from(c));
    }
    assert.deepEqual(got, [[9, 1, 8], [9, 2, 8], [9, 8, 8], [9, 3, 8], [9, 8, 8]]);
    await assert.rejects(wrapAll(docs, { length: 2, bosId: 0, eosId: 0 }), RangeError);
  });
});

Deno.test("padded mode", () => {
  const o = { length: 6, bosId: 100, eosId: 101, padId: 0 };
  let r = padDocument([1, 2], o);
  assert.deepEqual(Array.from(r.ids), [100, 1, 2, 101, 0, 0]);
  assert.deepEqual(Array.from(r.attentionMask), [1, 1, 1, 1, 0, 0]);
  r = padDocument([1, 2, 3, 4, 5, 6, 7], o);
  assert.deepEqual(Array.from(r.ids), [100, 1, 2, 3, 4, 101]);
  assert.deepEqual(Array.from(r.attentionMask), [1, 1, 1, 1, 1, 1]);
  r = padDocument([1, 2], { ...o, addSpecialTokens: false });
  assert.deepEqual(Array.from(r.ids), [1, 2, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(r.attentionMask), [1, 1, 0, 0, 0, 0]);
});
