/**
 * What a newcomer sees first: the bundled model must write English words. 16 samples of 256
 * tokens at top-p 0.9 with the default sampler: the share of their alphabetic words found in
 * Debian's English word list (`wamerican`) stays well above the 67.4 % that context-free unigram
 * text reaches with this tokenizer (`bd3 bench words`; the committed model measures 76-77 %), and
 * the ratio of distinct to total words stays at or above 0.3 (no repetition loops). Fixed seeds,
 * so the figure is the same on every run on an adapter; ignored where the word list is absent.
 */
import assert from "node:assert/strict";
import { gpuTest } from "@blockdiff/core/testing";
import { generate } from "@blockdiff/sampling";
import { parseWordList, wordStats } from "@blockdiff/eval";
import { BUNDLED_MODEL, readModel, toGpu } from "./model.ts";

const WORDS = "/usr/share/dict/words";
/** Above the context-free floor (67.4 %) by a margin that sampling noise does not close. */
const MIN_KNOWN_SHARE = 0.72;
const hasWords = await Deno.stat(WORDS).then((s) => s.isFile, () => false);

gpuTest("the bundled model writes English words", async (t, gpu) => {
  const host = await readModel(BUNDLED_MODEL);
  using m = toGpu(gpu, host);
  const list = parseWordList(await Deno.readTextFile(WORDS));
  // The default block size; the others and the adaptive policy are exercised (past the
  // context) by past_context_test.ts, and their word shares are in the README.
  const policies: [string, number][] = [["L′ = 4", 4]];
  for (const [name, blockSize] of policies) {
    await t.step(name, async () => {
      const out = await generate(m.model, m.tokenizer, {
        batch: 16,
        length: 257,
        topP: 0.9,
        blockSize,
        stopAtEos: false,
        entropyStop: false,
        seed: 0,
      });
      const texts = out.ids.map((ids) =>
        m.tokenizer.decode(ids.slice(out.prefixLength), { skipSpecial: true })
      );
      const s = wordStats(texts, list);
      console.log(
        `  ${name}: ${(100 * s.knownShare).toFixed(1)} % of ${s.words} words known, ` +
          `distinct/total ${s.distinctRatio.toFixed(3)}`,
      );
      assert.ok(s.knownShare >= MIN_KNOWN_SHARE, `${name}: ${JSON.stringify(s)}\n${texts[0]}`);
      assert.ok(s.distinctRatio >= 0.3, `${name}: ${JSON.stringify(s)}\n${texts[0]}`);
    });
  }
}, { ignore: !hasWords });
