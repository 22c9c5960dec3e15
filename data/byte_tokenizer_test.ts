import assert from "node:assert/strict";
import { ByteTokenizer } from "./byte_tokenizer.ts";
import { ENGLISH, UNICODE, WHITESPACE } from "./test_texts.ts";

Deno.test("ByteTokenizer", async (t) => {
  const tok = new ByteTokenizer();
  await t.step("ids and sizes", () => {
    assert.deepEqual([tok.bosId, tok.eosId, tok.padId, tok.maskId, tok.vocabSize], [
      256,
      257,
      258,
      259,
      260,
    ]);
    assert.deepEqual(tok.encode("Hi"), [72, 105]);
    assert.deepEqual(tok.encode("é"), [0xc3, 0xa9]);
  });
  await t.step("round-trips", () => {
    for (const s of [ENGLISH, ...UNICODE, ...WHITESPACE]) {
      assert.equal(tok.decode(tok.encode(s)), s);
    }
  });
  await t.step("specials render or drop", () => {
    const ids = [256, ...tok.encode("ok"), 259, 257];
    assert.equal(tok.decode(ids), "<bos>ok<mask><eos>");
    assert.equal(tok.decode(ids, { skipSpecial: true }), "ok");
    assert.throws(() => tok.decode([260]), RangeError);
  });
});
