/**
 * The tokenizer interface shared by every tokenizer of the data pipeline.
 * @module
 */

/** Options for {@link Tokenizer.decode}. */
export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, PAD, MASK, …) instead of rendering them. Default false. */
  skipSpecial?: boolean;
}

/**
 * The two ids that the reference's wrap pipeline writes (docs/design.md, "Data and tokenizers").
 */
export interface WrapIds {
  /** Written at the start of every chunk when special tokens are inserted. */
  bos: number;
  /** Appended to every document, and written at the end of every chunk. */
  eos: number;
}

/**
 * A text tokenizer. `encode` never adds special tokens; the wrap and pad pipelines
 * (`wrap.ts`) add them as the reference does.
 */
export interface Tokenizer {
  /** A stable name, used in cache keys (e.g. `gpt2`, `bert-base-uncased`, `bytes`). */
  readonly name: string;
  /** Number of model rows: the base vocabulary plus the mask token when one is appended. */
  readonly vocabSize: number;
  /** The absorbing-state (mask) id m. */
  readonly maskId: number;
  /** Beginning-of-sequence id (the one sampling starts with). */
  readonly bosId: number;
  /** End-of-sequence id (the one the EOS stop rule looks for). */
  readonly eosId: number;
  /** Padding id used by the padded (non-wrap) pipeline. */
  readonly padId: number;
  /** Ids the reference writes in wrap mode; defaults to `{ bos: bosId, eos: eosId }`. */
  readonly wrapIds?: WrapIds;
  /** Text to ids, without special tokens around it. */
  encode(text: string): number[];
  /** Ids to text. */
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
}

/** The BOS/EOS ids that the reference's wrap pipeline writes for this tokenizer. */
export function wrapIdsOf(tokenizer: Tokenizer): WrapIds {
  return tokenizer.wrapIds ?? { bos: tokenizer.bosId, eos: tokenizer.eosId };
}
