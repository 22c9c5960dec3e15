/**
 * Tokenizers from a user-supplied Hugging Face `tokenizer.json`: byte-level BPE (GPT-2,
 * RoBERTa, … style) and WordPiece (BERT style). Special ids follow the reference (spec 5.1):
 * a mask token in the vocabulary is used as is, otherwise one is appended at the end.
 * @module
 */
import { ByteLevelBpe } from "./byte_bpe.ts";
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
  eosToken?: string;
  padToken?: string;
  maskToken?: string;
  /** Wrap EOS = BOS as in the reference's `encode(eos)[0]` (spec 5.1). Default true. */
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

function hasByteLevel(node: Json): boolean {
  if (!node) return false;
  if (node.type === "ByteLevel") return true;
  if (node.type === "Sequence") {
    return (node.pretokenizers ?? node.decoders ?? []).some(hasByteLevel);
  }
  return false;
}

function byteLevelNode(node: Json): Json {
  if (node?.type === "ByteLevel") return node;
  for (const c of node?.pretokenizers ?? []) {
    const hit = byteLevelNode(c);
    if (hit) return hit;
  }
  return undefined;
}

/**
 * Builds a tokenizer from a parsed tokenizer.json. Supports `model.type` "BPE" with a
 * ByteLevel pre-tokenizer, and "WordPiece" (with a BertNormalizer, or none). Anything else
 * throws a {@link DataError} naming the unsupported part.
 */
export function tokenizerFromHfJson(json: Json, options: HfTokenizerOptions = {}): Tokenizer {
  const file = options.file ?? "tokenizer.json";
  const model = json?.model;
  if (!model || typeof model !== "object" || typeof model.vocab !== "object") {
    throw new DataError("not a Hugging Face tokenizer.json (no model.vocab).", {
      file,
      fix: "pass the tokenizer.json saved by `tokenizer.save_pretrained` / the hub.",
    });
  }
  const type: string = model.type ?? (model.merges ? "BPE" : "WordPiece");
  const added: AddedToken[] = (json.added_tokens ?? []).map((t: Json) => ({
    id: t.id,
    content: t.content,
    special: !!t.special,
  }));
  if (type === "BPE") {
    if (!hasByteLevel(json.pre_tokenizer)) {
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
    const merges = (model.merges ?? []).map((m: string | [string, string]) => {
      if (Array.isArray(m)) return [m[0], m[1]] as const;
      const sp = m.indexOf(" ");
      return [m.slice(0, sp), m.slice(sp + 1)] as const;
    });
    const bl = byteLevelNode(json.pre_tokenizer);
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
    const size = Math.max(...entries.map(([, id]) => id), ...added.map((t) => t.id)) + 1;
    const vocab: string[] = new Array(size).fill("");
    for (const [tok, id] of entries) vocab[id] = tok;
    for (const t of added) vocab[t.id] = t.content;
    const norm = json.normalizer;
    if (norm && norm.type !== "BertNormalizer") {
      throw new DataError(`WordPiece with normalizer ${norm.type} is not supported.`, {
        file,
        fix: "use a BERT-style tokenizer.json (BertNormalizer).",
      });
    }
    const lowercase = norm ? norm.lowercase !== false : false;
    const index = new Map(vocab.map((t, i) => [t, i] as const));
    const specials = resolveSpecials((t) => index.get(t), size, { ...options, file });
    return new WordPieceTokenizer({
      name: options.name ?? `hf:wordpiece:${specials.vocabSize}`,
      vocab,
      unkToken: model.unk_token ?? "[UNK]",
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
  throw new DataError(`tokenizer model type ${JSON.stringify(type)} is not supported.`, {
    file,
    fix: "use a byte-level BPE or WordPiece tokenizer.json (Unigram/WordLevel are not supported).",
  });
}

/** Reads and parses a tokenizer.json file, then {@link tokenizerFromHfJson}. */
export async function loadHfTokenizer(
  path: string,
  options: HfTokenizerOptions = {},
): Promise<Tokenizer> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
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
