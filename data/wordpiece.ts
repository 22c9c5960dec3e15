/**
 * WordPiece (greedy longest-match-first with `##` continuations) and a BERT-style
 * tokenizer built on it.
 * @module
 */
import { basicTokenize, type BasicTokenizerOptions } from "./bert_basic.ts";
import { splitOnSpecials } from "./special_split.ts";
import type { DecodeOptions, Tokenizer, WrapIds } from "./tokenizer.ts";

/** Options of {@link WordPieceTokenizer}. */
export interface WordPieceOptions {
  /** Name used in cache keys. */
  name: string;
  /** The vocabulary, index = id. */
  vocab: readonly string[];
  /** Unknown-word token. Default `[UNK]`. */
  unkToken?: string;
  /** Continuation prefix. Default `##`. */
  continuingPrefix?: string;
  /** Words with more characters than this become the unknown token. Default 100. */
  maxInputCharsPerWord?: number;
  /** BasicTokenizer options (lower-casing, accents, CJK, clean-up). */
  basic?: BasicTokenizerOptions;
  /** BOS token id. */
  bosId: number;
  /** EOS token id. */
  eosId: number;
  /** PAD token id. */
  padId: number;
  /** MASK token id (may be `vocab.length` when the mask is appended). */
  maskId: number;
  /** Model rows (base vocab, plus one if the mask was appended). Default `vocab.length`. */
  vocabSize?: number;
  /** Ids the reference's wrap pipeline writes. Default `{ bos: bosId, eos: eosId }`. */
  wrapIds?: WrapIds;
  /** Strings matched verbatim in the input as special tokens (e.g. `[CLS]`, `[MASK]`). */
  specialTokens?: readonly string[];
  /** Name rendered for an id past the vocabulary (an appended mask). Default `[MASK]`. */
  appendedMaskToken?: string;
}

/**
 * A WordPiece tokenizer with the BERT BasicTokenizer in front. Decoding follows Hugging
 * Face: tokens joined by spaces, ` ##` removed, then the standard clean-up of spaces
 * before punctuation and contractions.
 */
export class WordPieceTokenizer implements Tokenizer {
  readonly name: string;
  readonly vocabSize: number;
  readonly maskId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly wrapIds: WrapIds;
  /** Token strings, indexed by id. */
  readonly vocab: readonly string[];
  #ids = new Map<string, number>();
  #unk: number;
  #prefix: string;
  #maxChars: number;
  #basic: BasicTokenizerOptions;
  #specials: string[];
  #specialIds = new Set<number>();
  #appendedMask: string;

  /** Indexes `options.vocab`; throws when it lacks the unknown token. */
  constructor(options: WordPieceOptions) {
    this.name = options.name;
    this.vocab = options.vocab;
    options.vocab.forEach((tok, id) => {
      if (!this.#ids.has(tok)) this.#ids.set(tok, id);
    });
    const unkToken = options.unkToken ?? "[UNK]";
    const unk = this.#ids.get(unkToken);
    if (unk === undefined) throw new Error(`WordPiece vocabulary has no unknown token ${unkToken}`);
    this.#unk = unk;
    this.#prefix = options.continuingPrefix ?? "##";
    this.#maxChars = options.maxInputCharsPerWord ?? 100;
    this.#basic = options.basic ?? {};
    this.#specials = [...(options.specialTokens ?? [])].filter((s) => this.#ids.has(s));
    for (const s of this.#specials) this.#specialIds.add(this.#ids.get(s)!);
    this.bosId = options.bosId;
    this.eosId = options.eosId;
    this.padId = options.padId;
    this.maskId = options.maskId;
    this.vocabSize = options.vocabSize ?? options.vocab.length;
    this.wrapIds = options.wrapIds ?? { bos: this.bosId, eos: this.eosId };
    this.#appendedMask = options.appendedMaskToken ?? "[MASK]";
    for (const id of [this.bosId, this.eosId, this.padId, this.maskId, unk]) {
      this.#specialIds.add(id);
    }
  }

  /** The id of a vocabulary token, or undefined. */
  tokenToId(token: string): number | undefined {
    return this.#ids.get(token);
  }

  /** WordPiece pieces (as ids) of one basic word. */
  wordPieces(word: string): number[] {
    const chars = Array.from(word);
    if (chars.length > this.#maxChars) return [this.#unk];
    const out: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let found = -1;
      while (start < end) {
        let sub = chars.slice(start, end).join("");
        if (start > 0) sub = this.#prefix + sub;
        const id = this.#ids.get(sub);
        if (id !== undefined) {
          found = id;
          break;
        }
        end--;
      }
      if (found < 0) return [this.#unk];
      out.push(found);
      start = end;
    }
    return out;
  }

  /** Basic tokenization then WordPiece; special-token strings in the text map to their ids. */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const piece of splitOnSpecials(text, this.#specials)) {
      if ("special" in piece) {
        out.push(this.#ids.get(piece.special)!);
        continue;
      }
      for (const word of basicTokenize(piece.text, this.#basic)) {
        for (const id of this.wordPieces(word)) out.push(id);
      }
    }
    return out;
  }

  /** Ids back to text the way Hugging Face's BERT tokenizer decodes them. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const toks: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (options.skipSpecial && this.#specialIds.has(id)) continue;
      if (id >= 0 && id < this.vocab.length) toks.push(this.vocab[id]);
      else if (id === this.maskId) toks.push(this.#appendedMask);
      else throw new RangeError(`${this.name}.decode: id ${id} is outside [0, ${this.vocabSize})`);
    }
    const joined = toks.join(" ").split(` ${this.#prefix}`).join("").trim();
    return cleanUpTokenization(joined);
  }
}

/** Hugging Face's `clean_up_tokenization`: removes spaces before punctuation and clitics. */
export function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}
