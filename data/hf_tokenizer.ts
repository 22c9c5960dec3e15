/**
 * Tokenizers from a user-supplied Hugging Face `tokenizer.json`: byte-level BPE (GPT-2,
 * RoBERTa, … style) and WordPiece (BERT style). Special ids follow the reference:
 * a mask token in the vocabulary is used as is, otherwise one is appended at the end.
 * @module
 */
import { ByteLevelBpe, bytesToUnicode } from "./byte_bpe.ts";
import { DataError } from "./errors.ts";
import { splitOnSpecials } from "./special_split.ts";
import type { DecodeOptions, Tokenizer, WrapIds } from "./tokenizer.ts";
import { WordPieceTokenizer } from "./wordpiece.ts";

/** Special-token overrides and naming for {@link tokenizerFromHfJson}. */
export interface HfTokenizerOptions {
  /** Name used in cache keys. Default `hf:<model type>:<vocab size>`. */
  name?: string;
  /** Token strings to use for BOS/EOS/PAD/MASK instead of the guessed ones. */
  bosToken?: string;
  /** EOS token string (see `bosToken`). */
  eosToken?: string;
  /** PAD token string (see `bosToken`). */
  padToken?: string;
  /** MASK token string (see `bosToken`). */
  maskToken?: string;
  /** Wrap EOS = BOS as in the reference's `encode(eos)[0]`. Default true. */
  referenceWrapQuirk?: boolean;
  /** File name for error messages. */
  file?: string;
}

interface AddedToken {
  id: number;
  content: string;
  special?: boolean;
}

// deno-lint-ignore no-explicit-any
type Json = any;

const BOS_GUESSES = ["[CLS]", "<s>", "<|endoftext|>", "<|begin_of_text|>", "<bos>"];
const EOS_GUESSES = ["[SEP]", "</s>", "<|endoftext|>", "<|end_of_text|>", "<eos>"];
const PAD_GUESSES = ["[PAD]", "<pad>", "<|pad|>"];
const MASK_GUESSES = ["[MASK]", "<mask>", "<|mask|>"];

interface Specials {
  bosId: number;
  eosId: number;
  padId: number;
  maskId: number;
  vocabSize: number;
  wrapIds: WrapIds;
}

function resolveSpecials(
  lookup: (t: string) => number | undefined,
  baseSize: number,
  options: HfTokenizerOptions,
): Specials {
  const find = (given: string | undefined, guesses: string[], what: string) => {
    if (given !== undefined) {
      const id = lookup(given);
      if (id === undefined) {
        throw new DataError(
          `the ${what} token ${JSON.stringify(given)} is not in the vocabulary.`,
          {
            file: options.file,
            fix: `pass a ${what}Token that exists in tokenizer.json.`,
          },
        );
      }
      return id;
    }
    for (const g of guesses) {
      const id = lookup(g);
      if (id !== undefined) return id;
    }
    return undefined;
  };
  const bos = find(options.bosToken, BOS_GUESSES, "bos");
  const eos = find(options.eosToken, EOS_GUESSES, "eos");
  const bosId = bos ?? eos;
  const eosId = eos ?? bos;
  if (bosId === undefined || eosId === undefined) {
    throw new DataError("no BOS/EOS token found (tried [CLS]/[SEP], <s>/</s>, <|endoftext|>).", {
      file: options.file,
      fix: "pass bosToken and eosToken naming tokens of this tokenizer.",
    });
  }
  const mask = find(options.maskToken, MASK_GUESSES, "mask");
  const maskId = mask ?? baseSize;
  const vocabSize = mask === undefined ? baseSize + 1 : baseSize;
  const padId = find(options.padToken, PAD_GUESSES, "pad") ?? maskId;
  const quirk = options.referenceWrapQuirk ?? true;
  return {
    bosId,
    eosId,
    padId,
    maskId,
    vocabSize,
    wrapIds: { bos: bosId, eos: quirk ? bosId : eosId },
  };
}

/** A byte-level BPE tokenizer from tokenizer.json, with added tokens split out first. */
export class HfBpeTokenizer implements Tokenizer {
  readonly name: string;
  readonly vocabSize: number;
  readonly maskId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly wrapIds: WrapIds;
  #bpe: ByteLevelBpe;
  #added = new Map<string, number>();
  #addedById = new Map<number, AddedToken>();
  #specialIds = new Set<number>();

  /** Use {@link tokenizerFromHfJson}. */
  constructor(bpe: ByteLevelBpe, added: AddedToken[], specials: Specials, name: string) {
    this.#bpe = bpe;
    for (const t of added) {
      this.#added.set(t.content, t.id);
      this.#addedById.set(t.id, t);
      if (t.special) this.#specialIds.add(t.id);
    }
    this.name = name;
    this.vocabSize = specials.vocabSize;
    this.maskId = specials.maskId;
    this.bosId = specials.bosId;
    this.eosId = specials.eosId;
    this.padId = specials.padId;
    this.wrapIds = specials.wrapIds;
    for (const id of [this.bosId, this.eosId, this.padId, this.maskId]) this.#specialIds.add(id);
  }

  /** Added tokens by id, then byte-level BPE on the text between them. */
  encode(text: string): number[] {
    const out: number[] = [];
    for (const piece of splitOnSpecials(text, [...this.#added.keys()])) {
      if ("special" in piece) out.push(this.#added.get(piece.special)!);
      else for (const id of this.#bpe.encode(piece.text)) out.push(id);
    }
    return out;
  }

  /** Ids to text; an appended mask id renders as `[MASK]`. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    let out = "";
    let run: number[] = [];
    const flush = () => {
      if (run.length) out += this.#bpe.decode(run);
      run = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      const special = this.#specialIds.has(id);
      if (special && options.skipSpecial) {
        flush();
        continue;
      }
      const added = this.#addedById.get(id);
      if (added) {
        flush();
        out += added.content;
      } else if (id === this.maskId && !this.#bpe.has(id)) {
        flush();
        out += "[MASK]";
      } else {
        run.push(id);
      }
    }
    flush();
    return out;
  }
}

/** Largest token id accepted: real vocabularies stay far below it (Llama 3: 128k, Gemma: 256k). */
export const MAX_TOKEN_ID = 2 ** 22;

/** Largest tokenizer.json read (the biggest real ones are tens of MB). */
export const MAX_TOKENIZER_BYTES = 512 * 2 ** 20;

/** Deepest pre-tokenizer `Sequence` nesting followed (real files nest one level). */
const MAX_SEQUENCE_DEPTH = 32;

/**
 * The ByteLevel node of a pre-tokenizer, looking inside `Sequence` nodes (breadth-first and
 * depth-limited, so a hostile file cannot exhaust the stack), or undefined.
 */
function byteLevelNode(root: Json, file: string): Json {
  let level: Json[] = [root];
  for (let depth = 0; level.length; depth++) {
    if (depth > MAX_SEQUENCE_DEPTH) {
      throw new DataError(`pre_tokenizer nests deeper than ${MAX_SEQUENCE_DEPTH} levels.`, {
        file,
        fix: "pass an intact tokenizer.json.",
      });
    }
    const next: Json[] = [];
    for (const node of level) {
      if (!isObject(node)) continue;
      if (node.type === "ByteLevel") return node;
      const kids = node.type === "Sequence" ? node.pretokenizers : undefined;
      if (Array.isArray(kids)) next.push(...kids);
    }
    level = next;
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isTokenId(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v < MAX_TOKEN_ID;
}

/**
 * Checks every part of a tokenizer.json that the tokenizers below rely on, so that a damaged or
 * hostile file fails here with a {@link DataError} naming it instead of failing later inside
 * encode/decode (or allocating an array as long as its largest id).
 */
function validateTokenizerJson(json: Json, file: string): void {
  const bad = (what: string): never => {
    throw new DataError(`${what}.`, {
      file,
      fix: "pass the tokenizer.json saved by `tokenizer.save_pretrained` / the hub.",
    });
  };
  const model = isObject(json) ? json.model : undefined;
  if (!isObject(model) || typeof model.vocab !== "object" || model.vocab === null) {
    bad("not a Hugging Face tokenizer.json (no model.vocab)");
  }
  if (model.type !== undefined && model.type !== null && typeof model.type !== "string") {
    bad("model.type is not a string");
  }
  // Other model types (Unigram, WordLevel) are refused by the caller, naming the type.
  if (model.type && model.type !== "BPE" && model.type !== "WordPiece") return;
  if (!isObject(model.vocab)) bad("model.vocab is not an object of token ids");
  for (const [tok, id] of Object.entries(model.vocab)) {
    if (!isTokenId(id)) {
      bad(
        `model.vocab entry ${JSON.stringify(tok.slice(0, 40))} has id ` +
          `${
            String(JSON.stringify(id) ?? id).slice(0, 40)
          }, not an integer in [0, ${MAX_TOKEN_ID})`,
      );
    }
  }
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) bad("added_tokens is not a list");
  added.forEach((t: Json, i: number) => {
    if (!isObject(t) || !isTokenId(t.id) || typeof t.content !== "string" || !t.content) {
      bad(`added_tokens[${i}] needs an integer id in [0, ${MAX_TOKEN_ID}) and a non-empty content`);
    }
  });
  if (json.normalizer !== undefined && json.normalizer !== null && !isObject(json.normalizer)) {
    bad("normalizer is not an object");
  }
  const merges = model.merges ?? [];
  if (!Array.isArray(merges)) bad("model.merges is not a list");
  merges.forEach((m: Json, i: number) => {
    const ok = typeof m === "string"
      ? m.indexOf(" ") > 0
      : Array.isArray(m) && m.length === 2 && m.every((x: Json) => typeof x === "string");
    if (!ok) bad(`model.merges[${i}] is neither "a b" nor ["a", "b"]`);
  });
  for (const k of ["unk_token", "continuing_subword_prefix", "end_of_word_suffix"]) {
    const v = model[k];
    if (v !== undefined && v !== null && typeof v !== "string") bad(`model.${k} is not a string`);
  }
  const maxChars = model.max_input_chars_per_word;
  if (
    maxChars !== undefined && maxChars !== null &&
    !(Number.isSafeInteger(maxChars) && maxChars > 0 && maxChars <= 10_000)
  ) {
    // WordPiece's longest-match search is quadratic in this; HF's default is 100.
    bad("model.max_input_chars_per_word is not an integer in [1, 10000]");
  }
}

/** Throws unless the byte-level BPE vocabulary can encode any text with its merges. */
function checkByteLevelVocab(
  vocab: ReadonlyMap<string, number>,
  merges: ReadonlyArray<readonly [string, string]>,
  file: string,
): void {
  const bad = (what: string): never => {
    throw new DataError(`${what}.`, { file, fix: "pass an intact byte-level BPE tokenizer.json." });
  };
  bytesToUnicode().forEach((ch, b) => {
    if (!vocab.has(ch)) bad(`model.vocab lacks the token of byte 0x${b.toString(16)}`);
  });
  merges.forEach(([a, b], i) => {
    if (!vocab.has(a) || !vocab.has(b) || !vocab.has(a + b)) {
      bad(
        `model.merges[${i}] (${JSON.stringify(`${a} ${b}`).slice(0, 60)}) uses or makes a ` +
          "token that is not in model.vocab",
      );
    }
  });
}

/**
 * Builds a tokenizer from a parsed tokenizer.json. Supports `model.type` "BPE" with a
 * ByteLevel pre-tokenizer, and "WordPiece" (with a BertNormalizer, or none). Anything else
 * throws a {@link DataError} naming the unsupported part.
 */
export function tokenizerFromHfJson(
  parsed: unknown,
  options: HfTokenizerOptions = {},
): Tokenizer {
  const json: Json = parsed;
  const file = options.file ?? "tokenizer.json";
  validateTokenizerJson(json, file);
  const model = json.model;
  const type: string = model.type ?? (model.merges ? "BPE" : "WordPiece");
  const added: AddedToken[] = (json.added_tokens ?? []).map((t: Json) => ({
    id: t.id,
    content: t.content,
    special: !!t.special,
  }));
  if (type === "BPE") {
    const bl = byteLevelNode(json.pre_tokenizer, file);
    if (!bl) {
      throw new DataError(
        `BPE with pre-tokenizer ${json.pre_tokenizer?.type ?? "none"} is not supported ` +
          "(only byte-level BPE, as in GPT-2/RoBERTa).",
        { file, fix: "use a byte-level BPE or WordPiece tokenizer.json." },
      );
    }
    if (model.continuing_subword_prefix || model.end_of_word_suffix) {
      throw new DataError(
        "BPE with continuing_subword_prefix/end_of_word_suffix is not supported.",
        {
          file,
          fix: "use a byte-level BPE tokenizer.json without subword affixes.",
        },
      );
    }
    const vocab = new Map<string, number>(Object.entries(model.vocab as Record<string, number>));
    for (const t of added) if (!vocab.has(t.content)) vocab.set(t.content, t.id);
    const merges: [string, string][] = (model.merges ?? []).map((m: string | [string, string]) => {
      if (Array.isArray(m)) return [m[0], m[1]];
      const sp = m.indexOf(" ");
      return [m.slice(0, sp), m.slice(sp + 1)];
    });
    checkByteLevelVocab(vocab, merges, file);
    const bpe = new ByteLevelBpe({
      vocab,
      merges,
      addPrefixSpace: !!bl?.add_prefix_space,
      useRegex: bl?.use_regex ?? true,
    });
    let baseSize = 0;
    for (const id of Object.values(model.vocab as Record<string, number>)) {
      baseSize = Math.max(baseSize, id + 1);
    }
    const lookup = (t: string) => vocab.get(t);
    let maxId = baseSize;
    for (const t of added) maxId = Math.max(maxId, t.id + 1);
    const specials = resolveSpecials(lookup, maxId, { ...options, file });
    return new HfBpeTokenizer(bpe, added, specials, options.name ?? `hf:bpe:${specials.vocabSize}`);
  }
  if (type === "WordPiece") {
    const entries = Object.entries(model.vocab as Record<string, number>);
    // A loop, not Math.max(...ids): spreading a large vocabulary overflows the argument stack.
    let size = 0;
    for (const [, id] of entries) size = Math.max(size, id + 1);
    for (const t of added) size = Math.max(size, t.id + 1);
    const vocab: string[] = new Array(size).fill("");
    for (const [tok, id] of entries) vocab[id] = tok;
    for (const t of added) vocab[t.id] = t.content;
    const norm = json.normalizer;
    if (norm && norm.type !== "BertNormalizer") {
      const what = String(JSON.stringify(norm.type) ?? norm.type).slice(0, 60);
      throw new DataError(`WordPiece with normalizer ${what} is not supported.`, {
        file,
        fix: "use a BERT-style tokenizer.json (BertNormalizer).",
      });
    }
    const lowercase = norm ? norm.lowercase !== false : false;
    const index = new Map(vocab.map((t, i) => [t, i] as const));
    const unkToken = model.unk_token ?? "[UNK]";
    if (!index.has(unkToken)) {
      throw new DataError(
        `the unknown token ${JSON.stringify(unkToken)} is not in the vocabulary.`,
        {
          file,
          fix: "pass an intact WordPiece tokenizer.json (model.unk_token must be in model.vocab).",
        },
      );
    }
    const specials = resolveSpecials((t) => index.get(t), size, { ...options, file });
    return new WordPieceTokenizer({
      name: options.name ?? `hf:wordpiece:${specials.vocabSize}`,
      vocab,
      unkToken,
      continuingPrefix: model.continuing_subword_prefix ?? "##",
      maxInputCharsPerWord: model.max_input_chars_per_word ?? 100,
      basic: {
        lowercase,
        stripAccents: norm?.strip_accents ?? lowercase,
        handleChineseChars: norm ? norm.handle_chinese_chars !== false : false,
        cleanText: norm ? norm.clean_text !== false : false,
      },
      ...specials,
      specialTokens: added.map((t) => t.content),
    });
  }
  throw new DataError(
    `tokenizer model type ${JSON.stringify(type).slice(0, 60)} is not supported.`,
    {
      file,
      fix:
        "use a byte-level BPE or WordPiece tokenizer.json (Unigram/WordLevel are not supported).",
    },
  );
}

/** Reads and parses a tokenizer.json file, then {@link tokenizerFromHfJson}. */
export async function loadHfTokenizer(
  path: string,
  options: HfTokenizerOptions = {},
): Promise<Tokenizer> {
  let text: string;
  try {
    const { size } = await Deno.stat(path);
    if (size > MAX_TOKENIZER_BYTES) {
      throw new DataError(
        `the file is ${size} bytes, above the ${MAX_TOKENIZER_BYTES}-byte limit.`,
        {
          file: path,
          fix: "pass a tokenizer.json (they are at most tens of MB).",
        },
      );
    }
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof DataError) throw e;
    throw new DataError("cannot read the tokenizer file.", {
      file: path,
      fix: "check the path to tokenizer.json.",
      cause: e,
    });
  }
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new DataError(`invalid JSON (${(e as Error).message}).`, {
      file: path,
      fix: "pass an intact tokenizer.json.",
      cause: e,
    });
  }
  return tokenizerFromHfJson(json, { ...options, file: options.file ?? path });
}
