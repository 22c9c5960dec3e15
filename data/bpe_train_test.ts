import assert from "node:assert/strict";
import { trainByteLevelBpe } from "./bpe_train.ts";
import { tokenizerFromHfJson } from "./hf_tokenizer.ts";
import { DataError } from "./errors.ts";

const CORPUS = [
  "the cat sat on the mat. the cat ate the rat.",
  "a hat, a bat and a cat: that is all that the cat had.",
  "naïve café owners say «ça va» — 42 times, and 42 again!",
];

Deno.test("trainByteLevelBpe", async (t) => {
  await t.step("learns frequent words first and loads as a tokenizer.json", () => {
    const json = trainByteLevelBpe(CORPUS, { vocabSize: 300 });
    const tok = tokenizerFromHfJson(json);
    const merges = (json.model as { merges: [string, string][] }).merges;
    assert.equal(tok.vocabSize, 256 + merges.length + 2);
    // "Ġcat" (with GPT-2's space symbol) is among the corpus's most frequent words.
    assert.equal(tok.encode(" cat").length, 1);
    assert.equal(tok.encode(" the").length, 1);
    assert.equal(tok.maskId, tok.vocabSize - 1);
    assert.equal(tok.bosId, tok.vocabSize - 2);
    assert.equal(tok.decode([tok.maskId]), "[MASK]");
  });

  await t.step("every text round-trips, unseen bytes included", () => {
    const tok = tokenizerFromHfJson(trainByteLevelBpe(CORPUS, { vocabSize: 320 }));
    for (const text of [...CORPUS, "zebra 🦓 ünseen\ttabs\n\nand lines", "", " "]) {
      assert.equal(tok.decode(tok.encode(text)), text);
    }
  });

  await t.step("deterministic, and stops when no pair reaches minFrequency", () => {
    const a = JSON.stringify(trainByteLevelBpe(CORPUS, { vocabSize: 290 }));
    const b = JSON.stringify(trainByteLevelBpe(CORPUS, { vocabSize: 290 }));
    assert.equal(a, b);
    const big = trainByteLevelBpe(CORPUS, { vocabSize: 100_000, minFrequency: 3 });
    const tok = tokenizerFromHfJson(big);
    assert.ok(tok.vocabSize < 400, `vocabulary ${tok.vocabSize}`);
  });

  await t.step("a merge fuses repeated symbols left to right, as the encoder does", () => {
    const json = trainByteLevelBpe(["aaaaa aaaaa aaa"], { vocabSize: 262 });
    const tok = tokenizerFromHfJson(json);
    for (const text of ["aaaaa", " aaa", "aaaaaaa"]) {
      assert.equal(tok.decode(tok.encode(text)), text);
    }
  });

  await t.step("refuses a vocabulary smaller than bytes + specials", () => {
    assert.throws(() => trainByteLevelBpe(CORPUS, { vocabSize: 257 }), DataError);
    assert.throws(() => trainByteLevelBpe(CORPUS, { vocabSize: 2.5e3 + 0.5 }), DataError);
  });
});
