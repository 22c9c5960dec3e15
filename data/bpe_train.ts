/**
 * Trains a byte-level BPE vocabulary (GPT-2 style: the 256 byte symbols, then merges learnt
 * from the corpus) and writes it as a Hugging Face `tokenizer.json` that
 * {@link tokenizerFromHfJson} and Python's `tokenizers` both read.
 *
 * A small vocabulary trained on the corpus a model learns from lets each position carry several
 * characters while every text stays encodable, which is what a small model on a small budget
 * needs to write whole words.
 *
 * @example
 * ```ts
 * import { trainByteLevelBpe, tokenizerFromHfJson } from "@blockdiff/data";
 * const json = trainByteLevelBpe(["the cat sat on the mat", "the hat"], { vocabSize: 270 });
 * const tok = tokenizerFromHfJson(json);
 * console.log(tok.decode(tok.encode("the cat")));
 * ```
 * @module
 */
import { bytesToUnicode, GPT2_SPLIT } from "./byte_bpe.ts";
import { DataError } from "./errors.ts";

/** Options of {@link trainByteLevelBpe}. */
export interface BpeTrainOptions {
  /** Total vocabulary including the 256 byte symbols and the special tokens. */
  vocabSize: number;
  /** A pair seen fewer times than this is never merged. Default 2. */
  minFrequency?: number;
  /** Special tokens appended after the merges, in order. Default `<|endoftext|>`, `[MASK]`. */
  specialTokens?: readonly string[];
}

/** Smallest vocabulary: the byte symbols plus the special tokens. */
const BYTE_SYMBOLS = 256;

/** Largest vocabulary trained here; the pair keys below pack two ids below 2^21. */
export const MAX_BPE_VOCAB = 1 << 20;

/**
 * Learns merges from `texts` and returns the parsed form of a Hugging Face `tokenizer.json`
 * (write it with `JSON.stringify`). Ties between equally frequent pairs go to the pair of
 * smaller ids, so the result depends only on the texts and the options.
 */
export function trainByteLevelBpe(
  texts: Iterable<string>,
  options: BpeTrainOptions,
): Record<string, unknown> {
  const specials = [...(options.specialTokens ?? ["<|endoftext|>", "[MASK]"])];
  const minFrequency = options.minFrequency ?? 2;
  const target = options.vocabSize;
  if (
    !Number.isInteger(target) || target < BYTE_SYMBOLS + specials.length || target > MAX_BPE_VOCAB
  ) {
    throw new DataError(
      `BPE vocabulary size ${target} is out of range.`,
      { fix: `pick an integer in [${BYTE_SYMBOLS + specials.length}, ${MAX_BPE_VOCAB}].` },
    );
  }
  const byteChar = bytesToUnicode();
  const symbols: string[] = [...byteChar];

  // Unique pre-tokenized words with their counts, each as a list of symbol ids.
  const counts = new Map<string, number>();
  const encoder = new TextEncoder();
  for (const text of texts) {
    for (const w of text.match(GPT2_SPLIT) ?? []) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  const words: number[][] = [];
  const freq: number[] = [];
  for (const [w, c] of counts) {
    words.push(Array.from(encoder.encode(w)));
    freq.push(c);
  }
  counts.clear();

  // Pair counts over the corpus, and which words hold each pair (entries may go stale: a word
  // is re-checked when it is visited).
  const key = (a: number, b: number) => a * MAX_BPE_VOCAB + b;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPair = (k: number, wi: number, c: number) => {
    const n = (pairCount.get(k) ?? 0) + c;
    if (n === 0) pairCount.delete(k);
    else pairCount.set(k, n);
    if (c > 0) {
      let s = pairWords.get(k);
      if (!s) pairWords.set(k, s = new Set());
      s.add(wi);
    }
  };
  words.forEach((w, wi) => {
    for (let i = 0; i + 1 < w.length; i++) addPair(key(w[i], w[i + 1]), wi, freq[wi]);
  });

  const merges: [string, string][] = [];
  const budget = target - BYTE_SYMBOLS - specials.length;
  while (merges.length < budget) {
    let best = -1;
    let bestCount = 0;
    for (const [k, c] of pairCount) {
      if (c > bestCount || (c === bestCount && c > 0 && k < best)) {
        best = k;
        bestCount = c;
      }
    }
    if (best < 0 || bestCount < minFrequency) break;
    const a = Math.floor(best / MAX_BPE_VOCAB);
    const b = best % MAX_BPE_VOCAB;
    const id = symbols.length;
    symbols.push(symbols[a] + symbols[b]);
    merges.push([symbols[a], symbols[b]]);
    for (const wi of pairWords.get(best) ?? []) {
      const w = words[wi];
      const c = freq[wi];
      if (!w.some((s, i) => s === a && w[i + 1] === b)) continue;
      for (let i = 0; i + 1 < w.length; i++) addPair(key(w[i], w[i + 1]), wi, -c);
      const merged: number[] = [];
      for (let i = 0; i < w.length; i++) {
        if (i + 1 < w.length && w[i] === a && w[i + 1] === b) {
          merged.push(id);
          i++;
        } else {
          merged.push(w[i]);
        }
      }
      words[wi] = merged;
      for (let i = 0; i + 1 < merged.length; i++) addPair(key(merged[i], merged[i + 1]), wi, c);
    }
    pairCount.delete(best);
    pairWords.delete(best);
  }

  const vocab: Record<string, number> = {};
  symbols.forEach((s, i) => (vocab[s] = i));
  const added = specials.map((content, i) => ({
    id: symbols.length + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: "ByteLevel",
      add_prefix_space: false,
      trim_offsets: true,
      use_regex: true,
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}
