import assert from "node:assert/strict";
import { loadBertTokenizer, loadBertVocab } from "./bert.ts";
import { bytesToUnicode } from "./byte_bpe.ts";
import { DataError } from "./errors.ts";
import { loadHfTokenizer, tokenizerFromHfJson } from "./hf_tokenizer.ts";
import { ENGLISH, UNICODE, WHITESPACE } from "./test_texts.ts";

/** A tiny byte-level BPE tokenizer.json: 256 byte tokens, a few merges, one added token. */
function tinyBpeJson(addPrefixSpace = false) {
  const chars = bytesToUnicode();
  const vocab: Record<string, number> = {};
  chars.forEach((c, b) => (vocab[c] = b));
  const merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or"];
  let next = 256;
  for (const m of merges) vocab[m.replace(" ", "")] = next++;
  return {
    version: "1.0",
    added_tokens: [{ id: next, content: "<|endoftext|>", special: true }],
    normalizer: null,
    pre_tokenizer: {
      type: "ByteLevel",
      add_prefix_space: addPrefixSpace,
      trim_offsets: true,
      use_regex: true,
    },
    post_processor: null,
    decoder: { type: "ByteLevel" },
    model: { type: "BPE", vocab, merges, unk_token: null },
  };
}

Deno.test("tokenizer.json: byte-level BPE", async (t) => {
  const json = tinyBpeJson();
  const tok = tokenizerFromHfJson(json);
  const v = json.model.vocab;
  await t.step("merges in rank order", () => {
    const ids = tok.encode("hello world");
    assert.deepEqual(ids, [v["hello"], v["Ġwor"], v["l"], v["d"]]);
  });
  await t.step("special ids: EOT for BOS/EOS, appended mask = pad", () => {
    assert.equal(tok.bosId, 263);
    assert.equal(tok.eosId, 263);
    assert.equal(tok.maskId, 264);
    assert.equal(tok.padId, 264);
    assert.equal(tok.vocabSize, 265);
    assert.deepEqual(tok.encode("hi<|endoftext|>"), [v["h"], v["i"], 263]);
  });
  await t.step("round-trips", () => {
    for (const s of [ENGLISH, ...UNICODE, ...WHITESPACE]) {
      assert.equal(tok.decode(tok.encode(s)), s);
    }
    assert.equal(tok.decode([263, v["hello"], 264]), "<|endoftext|>hello[MASK]");
    assert.equal(tok.decode([263, v["hello"], 264], { skipSpecial: true }), "hello");
  });
  await t.step("add_prefix_space and array-form merges", () => {
    const j = tinyBpeJson(true);
    (j.model as { merges: unknown }).merges = j.model.merges.map((m) => m.split(" "));
    const p = tokenizerFromHfJson(j);
    assert.deepEqual(p.encode("world"), [v["Ġwor"], v["l"], v["d"]]);
  });
});

Deno.test("tokenizer.json: WordPiece matches bert-base-uncased", async () => {
  const vocab = await loadBertVocab();
  const json = {
    added_tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"].map((c) => ({
      id: vocab.indexOf(c),
      content: c,
      special: true,
    })),
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
    },
  };
  const tok = tokenizerFromHfJson(json);
  const bert = await loadBertTokenizer();
  for (const s of [ENGLISH, ...UNICODE, ...WHITESPACE, "hello [MASK] world"]) {
    assert.deepEqual(tok.encode(s), bert.encode(s));
    assert.equal(tok.decode(tok.encode(s)), bert.decode(bert.encode(s)));
  }
  assert.deepEqual([tok.bosId, tok.eosId, tok.padId, tok.maskId, tok.vocabSize], [
    101,
    102,
    0,
    103,
    30522,
  ]);
});

Deno.test("tokenizer.json: clear errors", async (t) => {
  await t.step("unsupported model types", () => {
    assert.throws(
      () =>
        tokenizerFromHfJson({ model: { type: "Unigram", vocab: [["a", 0]] } }, { file: "t.json" }),
      (e: unknown) => e instanceof DataError && /t\.json.*Unigram.*Fix:/s.test(e.message),
    );
    assert.throws(
      () =>
        tokenizerFromHfJson({
          pre_tokenizer: { type: "Metaspace" },
          model: { type: "BPE", vocab: {}, merges: [] },
        }),
      (e: unknown) => e instanceof DataError && /Metaspace/.test(e.message),
    );
    assert.throws(() => tokenizerFromHfJson({}), DataError);
  });
  await t.step("missing and invalid files", async () => {
    await assert.rejects(
      loadHfTokenizer("/nonexistent/tokenizer.json"),
      (e: unknown) => e instanceof DataError && e.message.includes("/nonexistent/tokenizer.json"),
    );
    const tmp = await Deno.makeTempFile({ suffix: ".json" });
    try {
      await Deno.writeTextFile(tmp, "{not json");
      await assert.rejects(loadHfTokenizer(tmp), /invalid JSON/);
      await Deno.writeTextFile(tmp, JSON.stringify(tinyBpeJson()));
      const tok = await loadHfTokenizer(tmp, { name: "tiny" });
      assert.equal(tok.name, "tiny");
    } finally {
      await Deno.remove(tmp);
    }
  });
});
