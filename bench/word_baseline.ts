/**
 * The floor under the English-word share (`bd3 eval --words`): text drawn token by token from the
 * corpus's unigram distribution, cut by top-p 0.9 as the sampler is, with no context at all. A
 * model's share means something only above this floor, and the floor rises with the vocabulary
 * (longer tokens are more often whole words), so it is measured for the bundled model's own
 * tokenizer and a few BPE sizes learnt from the same training split.
 * @module
 */
import { mulberry32 } from "@blockdiff/core";
import {
  loadTokenizer,
  type Tokenizer,
  tokenizerFromHfJson,
  trainByteLevelBpe,
} from "@blockdiff/data";
import { brownDocuments } from "@blockdiff/data/deno";
import { parseWordList, wordStats } from "@blockdiff/eval";
import { emit } from "./harness.ts";

const WORDS = "/usr/share/dict/words";
const BUNDLED = new URL("../models/bundled/", import.meta.url);

/** Word share of 16 × 256 unigram tokens (top-p 0.9) under `tokenizer`, over `texts`. */
export function unigramWordShare(
  tokenizer: Tokenizer,
  texts: readonly string[],
  words: ReadonlySet<string>,
  seed = 1,
): { knownShare: number; words: number; charsPerToken: number } {
  const counts = new Float64Array(tokenizer.vocabSize);
  let n = 0, chars = 0;
  for (const t of texts) {
    chars += t.length;
    for (const id of tokenizer.encode(t)) {
      counts[id]++;
      n++;
    }
  }
  const order = [...counts.keys()].sort((a, b) => counts[b] - counts[a]);
  const keep: number[] = [];
  let mass = 0;
  for (const id of order) {
    keep.push(id);
    mass += counts[id] / n;
    if (mass >= 0.9) break;
  }
  const total = keep.reduce((a, id) => a + counts[id], 0);
  const rnd = mulberry32(seed);
  const samples: string[] = [];
  for (let s = 0; s < 16; s++) {
    const ids: number[] = [];
    for (let i = 0; i < 256; i++) {
      let u = rnd() * total, j = 0;
      while (u > counts[keep[j]] && j < keep.length - 1) u -= counts[keep[j++]];
      ids.push(keep[j]);
    }
    samples.push(tokenizer.decode(ids, { skipSpecial: true }));
  }
  const st = wordStats(samples, words);
  return { knownShare: st.knownShare, words: st.words, charsPerToken: chars / n };
}

/** Emits the unigram floor for the bundled tokenizer and BPE vocabularies of 4096 / 8192 / 16384. */
export async function benchWordBaseline(): Promise<void> {
  const list = await Deno.readTextFile(WORDS).catch(() => null);
  if (list === null) {
    emit({ bench: "words", case: "unigram floor", ms: 0, skipped: `no ${WORDS} (wamerican)` });
    return;
  }
  const words = parseWordList(list);
  const texts: string[] = [];
  for await (const d of brownDocuments({ split: "train" })) texts.push(d.text);
  const meta = JSON.parse(await Deno.readTextFile(new URL("blockdiff.json", BUNDLED)));
  const name: string = meta.tokenizer;
  const bundled = await loadTokenizer(
    name.endsWith(".json") ? new URL(name, BUNDLED).pathname : name,
  );
  const cases: [string, Tokenizer][] = [[`bundled (${bundled.name})`, bundled]];
  for (const vocabSize of [4096, 8192, 16384]) {
    cases.push([`bpe ${vocabSize}`, tokenizerFromHfJson(trainByteLevelBpe(texts, { vocabSize }))]);
  }
  for (const [label, tok] of cases) {
    const t0 = performance.now();
    const r = unigramWordShare(tok, texts, words);
    emit({
      bench: "words",
      case: `unigram floor, ${label}, 16 × 256 tokens, top-p 0.9`,
      ms: performance.now() - t0,
      known_share: r.knownShare,
      words: r.words,
      chars_per_token: r.charsPerToken,
    });
  }
}
