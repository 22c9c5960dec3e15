import assert from "node:assert/strict";
import { BatchIterator } from "./batches.ts";
import { loadBertTokenizer } from "./bert.ts";
import { ByteTokenizer } from "./byte_tokenizer.ts";
import { loadGpt2Tokenizer } from "./gpt2.ts";
import { loadChunks, tokenizedDocuments } from "./pipeline.ts";
import { TokenCache } from "./token_cache.ts";

Deno.test("pipeline", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "blockdiff-pipeline-" });
  try {
    const cache = new TokenCache(`${dir}/cache`);
    await t.step("Brown validation split with GPT-2, wrap L = 128, cached", async () => {
      const tokenizer = await loadGpt2Tokenizer();
      const opts = { tokenizer, length: 128, split: "validation" as const, cache };
      let t0 = performance.now();
      const a = await loadChunks({ kind: "brown" }, opts);
      const cold = performance.now() - t0;
      t0 = performance.now();
      const b = await loadChunks({ kind: "brown" }, opts);
      const warm = performance.now() - t0;
      assert.deepEqual(a.data, b.data);
      assert.ok(a.count > 300, `${a.count} chunks`);
      assert.ok(warm < cold, `warm ${warm} ms vs cold ${cold} ms`);
      for (let r = 0; r < a.count; r++) {
        assert.equal(a.data[r * 128], 50256);
        assert.equal(a.data[r * 128 + 127], 50256);
      }
      const it = new BatchIterator(a, { batchSize: 8, seed: 1 });
      assert.equal(it.next().value.ids.length, 8 * 128);
    });
    await t.step(
      "file source with the BERT tokenizer: LM1B detokenizer and [CLS] separators",
      async () => {
        const p = `${dir}/lm1b.jsonl`;
        await Deno.writeTextFile(
          p,
          ['{"text": "it \'s over ."}', '{"text": "he said , hi ."}'].join("\n"),
        );
        const tokenizer = await loadBertTokenizer();
        const docs: number[][] = [];
        for await (
          const d of tokenizedDocuments({ kind: "file", path: p }, {
            tokenizer,
            dataset: "lm1b",
            cache,
          })
        ) {
          docs.push(Array.from(d));
        }
        assert.deepEqual(docs.map((d) => tokenizer.decode(d)), ["it's over.", "he said, hi."]);
        const set = await loadChunks({ kind: "file", path: p }, {
          tokenizer,
          dataset: "lm1b",
          length: 6,
          cache,
        });
        // stream: it ' s over . [CLS] he said , hi . [CLS] → pieces of 4
        assert.deepEqual(Array.from(set.data.subarray(0, 6)), [101, 2009, 1005, 1055, 2058, 101]);
        assert.deepEqual(Array.from(set.data.subarray(6, 12)), [101, 1012, 101, 2002, 2056, 101]);
      },
    );
    await t.step("padded mode with the byte tokenizer", async () => {
      const p = `${dir}/tiny.txt`;
      await Deno.writeTextFile(p, "ab\n\ncdefgh\n");
      const set = await loadChunks({ kind: "file", path: p }, {
        tokenizer: new ByteTokenizer(),
        length: 5,
        mode: "pad",
        cache: false,
      });
      assert.deepEqual(Array.from(set.data), [256, 97, 98, 257, 258, 256, 99, 100, 101, 257]);
      assert.deepEqual(Array.from(set.attentionMask!), [1, 1, 1, 1, 0, 1, 1, 1, 1, 1]);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
