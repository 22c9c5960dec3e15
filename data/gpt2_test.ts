import assert from "node:assert/strict";
import { loadGpt2Tokenizer } from "./gpt2.ts";
import { ENGLISH, UNICODE, WHITESPACE } from "./test_texts.ts";
import { wrapIdsOf } from "./tokenizer.ts";

Deno.test("GPT-2 tokenizer", async (t) => {
  const tok = await loadGpt2Tokenizer();
  await t.step("reference special ids", () => {
    assert.equal(tok.vocabSize, 50258);
    assert.equal(tok.maskId, 50257);
    assert.equal(tok.padId, 50257);
    assert.equal(tok.bosId, 50256);
    assert.equal(tok.eosId, 50256);
    assert.deepEqual(wrapIdsOf(tok), { bos: 50256, eos: 50256 });
  });
  await t.step("known ids", () => {
    assert.deepEqual(tok.encode("Hello world"), [15496, 995]);
    assert.deepEqual(tok.encode(" Hello"), [18435]);
    assert.deepEqual(tok.encode("<|endoftext|>"), [50256]);
    assert.deepEqual(tok.encode(""), []);
  });
  await t.step("round-trips", () => {
    for (const s of [ENGLISH, ...UNICODE, ...WHITESPACE]) {
      assert.equal(tok.decode(tok.encode(s)), s);
    }
  });
  await t.step("mask and skipSpecial", () => {
    const ids = [50256, ...tok.encode("Hi"), 50257];
    assert.equal(tok.decode(ids), "<|endoftext|>Hi[MASK]");
    assert.equal(tok.decode(ids, { skipSpecial: true }), "Hi");
    assert.throws(() => tok.decode([50258]), RangeError);
  });
});
