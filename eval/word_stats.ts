/**
 * How much of a model's text is made of real words: the share of alphabetic words found in a
 * word list (such as Debian's `wamerican`, `/usr/share/dict/words`) and the ratio of distinct to
 * total words per sample, which falls when a sampler loops on a phrase. Cheap, tokenizer-free
 * and readable by anyone, it complements perplexities for small models whose text is judged first
 * by whether it is made of words at all.
 *
 * @example
 * ```ts
 * import { parseWordList, wordStats } from "@blockdiff/eval";
 * const words = parseWordList("the\ncat\nsat\n");
 * console.log(wordStats(["The cat sat, the cat zat."], words).knownShare); // 5/6
 * ```
 * @module
 */

/** A word list: lower-cased words, one set. */
export type WordList = ReadonlySet<string>;

/** The word measures of {@link wordStats} (JSON-ready). */
export interface WordStats {
  /** Alphabetic words over all texts. */
  words: number;
  /** Of those, found in the word list. */
  known: number;
  /** known / words (NaN without words). */
  knownShare: number;
  /** Mean over texts with words of distinct / total (lower-cased) words. */
  distinctRatio: number;
}

/** Alphabetic words, with inner apostrophes kept (`don't`, `o'clock`). */
const WORD = /[A-Za-z]+(?:'[A-Za-z]+)*/g;

/** A word list from its text: one word per line, compared lower-cased. */
export function parseWordList(text: string): WordList {
  const out = new Set<string>();
  for (const line of text.split("\n")) {
    const w = line.trim().toLowerCase();
    if (w) out.add(w);
  }
  return out;
}

function isKnown(word: string, list: WordList): boolean {
  const w = word.toLowerCase();
  if (list.has(w)) return true;
  // Possessives and contractions the list spells apart: "year's", "they'll".
  const apostrophe = w.indexOf("'");
  return apostrophe > 0 && list.has(w.slice(0, apostrophe));
}

/** Word measures of `texts` against `list`. */
export function wordStats(texts: readonly string[], list: WordList): WordStats {
  let words = 0, known = 0, ratioSum = 0, withWords = 0;
  for (const text of texts) {
    const found = text.match(WORD) ?? [];
    if (!found.length) continue;
    words += found.length;
    for (const w of found) if (isKnown(w, list)) known++;
    ratioSum += new Set(found.map((w) => w.toLowerCase())).size / found.length;
    withWords++;
  }
  return {
    words,
    known,
    knownShare: words ? known / words : NaN,
    distinctRatio: withWords ? ratioSum / withWords : NaN,
  };
}
