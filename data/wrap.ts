/**
 * The reference's two ways of turning documents into fixed-length rows (docs/design.md, "Data and
 * tokenizers"): wrap (concatenate and chunk) and pad (truncate/pad each document).
 * @module
 */

/** Options of {@link wrapChunks}. */
export interface WrapOptions {
  /** Row length L. */
  length: number;
  /** Id written first in every chunk (when `insertSpecialTokens`). */
  bosId: number;
  /** Id appended to every document (when `insertEos`) and written last in every chunk. */
  eosId: number;
  /** Append EOS to every document. Default true. */
  insertEos?: boolean;
  /** Cut pieces of L − 2 and emit `[BOS] + piece + [EOS]`; else pieces of L. Default true. */
  insertSpecialTokens?: boolean;
  /**
   * Documents concatenated per group; each group's remainder is dropped (the reference's
   * `datasets.map` batch, 1000 per CPU shard). Default Infinity: one stream, one remainder
   * dropped at the end.
   */
  groupSize?: number;
}

/** Token-id documents, one array per document, from memory or a stream. */
export type TokenDocuments = Iterable<ArrayLike<number>> | AsyncIterable<ArrayLike<number>>;

/**
 * Wrap mode: appends EOS to each document, concatenates, and cuts into chunks of length L
 * (with BOS/EOS around each piece of L − 2 by default). The incomplete tail of each group is
 * dropped. Every chunk's attention mask is all ones, so only the ids are yielded.
 */
export async function* wrapChunks(
  docs: TokenDocuments,
  options: WrapOptions,
): AsyncGenerator<Int32Array> {
  const L = options.length;
  const special = options.insertSpecialTokens ?? true;
  const insertEos = options.insertEos ?? true;
  const groupSize = options.groupSize ?? Infinity;
  const piece = special ? L - 2 : L;
  if (!Number.isInteger(L) || piece < 1) {
    throw new RangeError(`wrapChunks: length ${L} too small (need ≥ ${special ? 3 : 1})`);
  }
  const buf = new Int32Array(piece);
  let fill = 0;
  let inGroup = 0;
  const emit = (): Int32Array => {
    const out = new Int32Array(L);
    if (special) {
      out[0] = options.bosId;
      out.set(buf, 1);
      out[L - 1] = options.eosId;
    } else {
      out.set(buf);
    }
    fill = 0;
    return out;
  };
  const push = function* (id: number) {
    buf[fill++] = id;
    if (fill === piece) yield emit();
  };
  for await (const doc of docs) {
    for (let i = 0; i < doc.length; i++) yield* push(doc[i]);
    if (insertEos) yield* push(options.eosId);
    if (++inGroup === groupSize) {
      fill = 0;
      inGroup = 0;
    }
  }
}

/** Collects {@link wrapChunks} into one flat `Int32Array` of n × L ids. */
export async function wrapAll(docs: TokenDocuments, options: WrapOptions): Promise<Int32Array> {
  const rows: Int32Array[] = [];
  for await (const c of wrapChunks(docs, options)) rows.push(c);
  const out = new Int32Array(rows.length * options.length);
  rows.forEach((r, i) => out.set(r, i * options.length));
  return out;
}

/** Options of {@link padDocument}. */
export interface PadOptions {
  /** Row length L. */
  length: number;
  /** BOS token id, written first. */
  bosId: number;
  /** EOS token id, written after the content. */
  eosId: number;
  /** PAD token id, filling the row after EOS. */
  padId: number;
  /** Put BOS first and EOS last (Hugging Face `add_special_tokens`). Default true. */
  addSpecialTokens?: boolean;
}

/** One padded row and its attention mask (1 = real token, 0 = padding). */
export interface PaddedRow {
  /** Token ids of the row, length L. */
  ids: Int32Array;
  /** 1 for BOS, content and EOS; 0 for padding; length L. */
  attentionMask: Uint8Array;
}

/**
 * The non-wrap path: `[BOS] + ids + [EOS]`, truncated so the whole row fits in L (the
 * content is cut, the specials kept), then right-padded with PAD; mask 0 on padding.
 */
export function padDocument(ids: ArrayLike<number>, options: PadOptions): PaddedRow {
  const L = options.length;
  const special = options.addSpecialTokens ?? true;
  const room = special ? L - 2 : L;
  if (room < 0) throw new RangeError(`padDocument: length ${L} too small`);
  const n = Math.min(ids.length, room);
  const out = new Int32Array(L).fill(options.padId);
  const mask = new Uint8Array(L);
  let k = 0;
  if (special) out[k++] = options.bosId;
  for (let i = 0; i < n; i++) out[k++] = ids[i];
  if (special) out[k++] = options.eosId;
  mask.fill(1, 0, k);
  return { ids: out, attentionMask: mask };
}
