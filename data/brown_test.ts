import assert from "node:assert/strict";
import { brownDocuments, brownIds, detagBrown, joinWords, stripTag } from "./brown.ts";

Deno.test("Brown corpus", async (t) => {
  await t.step("tags stripped, spacing rebuilt", () => {
    assert.equal(stripTag("Atlanta's/np$"), "Atlanta's");
    assert.equal(stripTag("1/2/cd"), "1/2");
    assert.equal(
      joinWords(["He", "said", ",", "``", "yes", "''", "(", "twice", ")", "."]),
      'He said, "yes" (twice).',
    );
    const tagged =
      "\n\n\tThe/at jury/nn said/vbd ./.\nIt/pps ended/vbd ./.\n\n\n\tNext/ap-hl \nDone/vbn !/.\n";
    assert.equal(detagBrown(tagged), "The jury said. It ended.\n\nNext\nDone!");
  });
  await t.step("500 documents with fixed 453/22/25 splits", async () => {
    const ids = await brownIds();
    assert.equal(ids.length, 500);
    assert.deepEqual([ids[0], ids[499]], ["ca01", "cr09"]);
    const split: Record<string, string[]> = { train: [], validation: [], test: [] };
    for (const s of ["train", "validation", "test"] as const) {
      for await (const d of brownDocuments({ split: s })) split[s].push(d.id);
    }
    assert.deepEqual([split.train.length, split.validation.length, split.test.length], [
      453,
      22,
      25,
    ]);
    assert.deepEqual(split.validation.slice(0, 3), ["cc02", "ce34", "cf26"]);
    assert.deepEqual(split.test.slice(0, 3), ["ca06", "ca24", "cb12"]);
  });
  await t.step("plain text", async () => {
    for await (const d of brownDocuments()) {
      assert.equal(d.id, "ca01");
      assert.ok(
        d.text.startsWith("The Fulton County Grand Jury said Friday an investigation of Atlanta's"),
      );
      assert.ok(
        d.text.includes('produced "no evidence" that any irregularities took place.\n\nThe jury'),
      );
      assert.doesNotMatch(d.text, /\/(at|nn|vbd)\b/);
      break;
    }
  });
});
