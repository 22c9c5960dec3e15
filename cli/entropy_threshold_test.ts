/**
 * The entropy stop's byte-level default (2.5 nats over 256 tokens) measured on real text: it
 * must spare every window of held-out English and stop short repetition loops.
 */
import assert from "node:assert/strict";
import { ByteTokenizer } from "@blockdiff/data";
import { brownDocuments } from "@blockdiff/data/deno";
import { entropyStop } from "@blockdiff/schedules";
import { defaultEntropyThreshold } from "./sample.ts";
import { BUNDLED_MODEL, readModel } from "./model.ts";

Deno.test("entropy stop: the byte-level default spares English and stops loops", async (t) => {
  const tokenizer = new ByteTokenizer();
  const threshold = defaultEntropyThreshold(tokenizer.vocabSize);
  assert.equal(threshold, 2.5);
  assert.equal(defaultEntropyThreshold(50258), 4);
  const rule = entropyStop({ window: 256, threshold });
  await t.step("no window of the Brown test split stops", async () => {
    let windows = 0;
    for await (const doc of brownDocuments({ split: "test" })) {
      const ids = tokenizer.encode(doc.text);
      for (let end = 256; end <= ids.length; end += 256) {
        windows++;
        assert.equal(rule.check(ids.slice(0, end), 0), null, `${doc.id} at byte ${end}`);
      }
    }
    assert.ok(windows > 100, `${windows} windows`);
  });
  await t.step("repetition loops stop", () => {
    for (const loop of ["the the ", "and then he said that ", "of the state of the "]) {
      const ids = tokenizer.encode(loop.repeat(40));
      assert.ok(rule.check(ids, 0), loop);
    }
  });
});

Deno.test("entropy stop: the default for the bundled model's vocabulary spares English", async () => {
  const { tokenizer } = await readModel(BUNDLED_MODEL);
  const rule = entropyStop({
    window: 256,
    threshold: defaultEntropyThreshold(tokenizer.vocabSize),
  });
  let windows = 0;
  for await (const doc of brownDocuments({ split: "test" })) {
    const ids = tokenizer.encode(doc.text);
    for (let end = 256; end <= ids.length; end += 256) {
      windows++;
      assert.equal(rule.check(ids.slice(0, end), 0), null, `${doc.id} at token ${end}`);
    }
  }
  assert.ok(windows > 100, `${windows} windows`);
  assert.ok(rule.check(tokenizer.encode("and then he said that ".repeat(60)), 0));
});
