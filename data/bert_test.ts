import assert from "node:assert/strict";
import { basicTokenize } from "./bert_basic.ts";
import {
  BERT_IDS,
  bertVocabFromSentencePieceStyle,
  loadBertTokenizer,
  loadBertVocab,
  parseVocabText,
} from "./bert.ts";
import { padDocument } from "./wrap.ts";
import { wrapIdsOf } from "./tokenizer.ts";
import { cleanUpTokenization } from "./wordpiece.ts";

Deno.test("BERT BasicTokenizer", async (t) => {
  await t.step("lower-case, accents, punctuation, CJK, whitespace", () => {
    assert.deepEqual(basicTokenize("  Héllo,\tWORLD!\n"), ["hello", ",", "world", "!"]);
    assert.deepEqual(basicTokenize("東京x"), ["東", "京", "x"]);
    assert.deepEqual(basicTokenize("a\u0000b\u200bc"), ["abc"]);
    assert.deepEqual(basicTokenize("Café", { lowercase: false }), ["Café"]);
    assert.deepEqual(basicTokenize("$5.00"), ["$", "5", ".", "00"]);
  });
});

Deno.test("bert-base-uncased", async (t) => {
  const vocab = await loadBertVocab();
  const tok = await loadBertTokenizer();
  await t.step("vocabulary matches vocab.txt", () => {
    assert.equal(vocab.length, 30522);
    assert.equal(new Set(vocab).size, 30522);
    assert.deepEqual(
      [vocab[0], vocab[1], vocab[100], vocab[101], vocab[102], vocab[103], vocab[104]],
      ["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[unused99]"],
    );
    assert.deepEqual([vocab[1996], vocab[2015], vocab[2075], vocab[1012]], [
      "the",
      "##s",
      "##ing",
      ".",
    ]);
    assert.deepEqual(bertVocabFromSentencePieceStyle(["[PAD]", "\u2581", "\u2581a", "b"]), [
      "[PAD]",
      "[unused0]",
      "a",
      "##b",
    ]);
    assert.deepEqual(parseVocabText("a\r\nb\n"), ["a", "b"]);
  });
  await t.step("reference special ids", () => {
    assert.deepEqual(BERT_IDS, { pad: 0, unk: 100, cls: 101, sep: 102, mask: 103 });
    assert.deepEqual([tok.vocabSize, tok.maskId, tok.bosId, tok.eosId, tok.padId], [
      30522,
      103,
      101,
      102,
      0,
    ]);
    assert.deepEqual(wrapIdsOf(tok), { bos: 101, eos: 101 });
  });
  await t.step("known ids", () => {
    assert.deepEqual(tok.encode("hello world"), [7592, 2088]);
    assert.deepEqual(tok.encode("Hello World"), [7592, 2088]);
    assert.deepEqual(tok.encode("unaffable"), [14477, 20961, 3468]);
    assert.deepEqual(tok.encode("hello [MASK] world"), [7592, 103, 2088]);
    const row = padDocument(tok.encode("hello world"), {
      length: 6,
      bosId: tok.bosId,
      eosId: tok.eosId,
      padId: tok.padId,
    });
    assert.deepEqual(Array.from(row.ids), [101, 7592, 2088, 102, 0, 0]);
  });
  await t.step("[UNK] for unknown and > 100-char words", () => {
    assert.deepEqual(tok.encode("😀"), [100]);
    assert.deepEqual(tok.encode("a".repeat(101)), [100]);
    assert.notDeepEqual(tok.encode("a".repeat(100)), [100]);
  });
  await t.step("decode like Hugging Face", () => {
    const s = "The quick brown fox, it isn't lazy. Unaffable!";
    assert.equal(tok.decode(tok.encode(s)), "the quick brown fox, it isn't lazy. unaffable!");
    assert.equal(tok.decode(tok.encode("Café naïve  résumé")), "cafe naive resume");
    assert.equal(
      tok.decode(tok.encode("  multiple   spaces\n\tand tabs ")),
      "multiple spaces and tabs",
    );
    assert.equal(tok.decode([101, 7592, 102, 0]), "[CLS] hello [SEP] [PAD]");
    assert.equal(tok.decode([101, 7592, 103, 102, 0], { skipSpecial: true }), "hello");
    assert.equal(tok.decode(tok.encode("東京")), "東 京");
    assert.equal(cleanUpTokenization("a , b . i 'm"), "a, b. i'm");
  });
});
