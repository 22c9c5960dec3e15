/**
 * Byte-level BPE (GPT-2 style) from a vocabulary and a merge list, as stored in a Hugging
 * Face tokenizer.json.
 * @module
 */

/** GPT-2's reversible byte → printable-character table (`bytes_to_unicode`). */
export function bytesToUnicode(): string[] {
  const table: string[] = new Array(256);
  const direct = (b: number) =>
    (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    table[b] = String.fromCodePoint(direct(b) ? b : 256 + n++);
  }
  return table;
}

/** GPT-2's pre-tokenization pattern (also Hugging Face `ByteLevel` with `use_regex`). */
export const GPT2_SPLIT =
  /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** Options of {@link ByteLevelBpe}. */
export interface ByteLevelBpeOptions {
  /** Token → id. */
  vocab: ReadonlyMap<string, number>;
  /** Merge pairs in priority order. */
  merges: ReadonlyArray<readonly [string, string]>;
  /** Prepend a space to the text when it does not start with one. Default false. */
  addPrefixSpace?: boolean;
  /** Split with {@link GPT2_SPLIT} before BPE. Default true. */
  useRegex?: boolean;
}

/** Byte-level BPE encoding/decoding of plain text (no special tokens). */
export class ByteLevelBpe {
  #vocab: ReadonlyMap<string, number>;
  #inverse = new Map<number, string>();
  #ranks = new Map<string, number>();
  #byteChar = bytesToUnicode();
  #charByte = new Map<string, number>();
  #cache = new Map<string, number[]>();
  #prefixSpace: boolean;
  #useRegex: boolean;
  #encoder = new TextEncoder();
  #decoder = new TextDecoder();

  /** Builds the merge ranks and byte ↔ character tables from `options`. */
  constructor(options: ByteLevelBpeOptions) {
    this.#vocab = options.vocab;
    for (const [tok, id] of options.vocab) this.#inverse.set(id, tok);
    options.merges.forEach(([a, b], i) => {
      const key = `${a} ${b}`;
      if (!this.#ranks.has(key)) this.#ranks.set(key, i);
    });
    this.#byteChar.forEach((ch, b) => this.#charByte.set(ch, b));
    this.#prefixSpace = options.addPrefixSpace ?? false;
    this.#useRegex = options.useRegex ?? true;
  }

  /** True when `id` is a token of this model. */
  has(id: number): boolean {
    return this.#inverse.has(id);
  }

  #bpe(word: string): number[] {
    const hit = this.#cache.get(word);
    if (hit) return hit;
    let parts = Array.from(word);
    while (parts.length > 1) {
      let best = Infinity;
      let at = -1;
      for (let i = 0; i < parts.length - 1; i++) {
        const r = this.#ranks.get(`${parts[i]} ${parts[i + 1]}`);
        if (r !== undefined && r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0) break;
      const a = parts[at];
      const b = parts[at + 1];
      const merged: string[] = [];
      for (let i = 0; i < parts.length; i++) {
        if (i < parts.length - 1 && parts[i] === a && parts[i + 1] === b) {
          merged.push(a + b);
          i++;
        } else {
          merged.push(parts[i]);
        }
      }
      parts = merged;
    }
    const ids = parts.map((p) => {
      const id = this.#vocab.get(p);
      if (id === undefined) {
        throw new Error(`byte-level BPE: piece ${JSON.stringify(p)} not in vocab`);
      }
      return id;
    });
    if (this.#cache.size > 100_000) this.#cache.clear();
    this.#cache.set(word, ids);
    return ids;
  }

  /** Text → ids. */
  encode(text: string): number[] {
    if (this.#prefixSpace && text.length > 0 && !text.startsWith(" ")) text = " " + text;
    const words = this.#useRegex ? (text.match(GPT2_SPLIT) ?? []) : [text];
    const out: number[] = [];
    for (const w of words) {
      let mapped = "";
      for (const b of this.#encoder.encode(w)) mapped += this.#byteChar[b];
      for (const id of this.#bpe(mapped)) out.push(id);
    }
    return out;
  }

  /** Ids → bytes (as the byte-level decoder does), then UTF-8 (invalid bytes → U+FFFD). */
  decode(ids: ArrayLike<number>): string {
    const bytes: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const tok = this.#inverse.get(ids[i]);
      if (tok === undefined) throw new RangeError(`byte-level BPE: unknown id ${ids[i]}`);
      for (const ch of tok) {
        const b = this.#charByte.get(ch);
        if (b === undefined) bytes.push(...this.#encoder.encode(ch));
        else bytes.push(b);
      }
    }
    return this.#decoder.decode(new Uint8Array(bytes));
  }
}
