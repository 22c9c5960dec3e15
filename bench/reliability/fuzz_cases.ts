/**
 * The fuzz corpus: one valid file of every kind blockdiff reads, the hostile mutations applied to
 * them, and the loader each kind goes through. A case is fully determined by its seed, so any
 * outcome can be replayed alone.
 * @module
 */
import { join } from "node:path";
import { gunzipSync, gzipSync, zipSync } from "fflate";
import { parquetWriteBuffer } from "hyparquet-writer";
import { BlockdiffError, Rng } from "@blockdiff/core";
import {
  encodeLightningCheckpoint,
  encodeSafetensors,
  expectedParameters,
  f32Tensor,
  type TensorMap,
} from "@blockdiff/model";
import {
  decodeSafetensors,
  loadLatestCheckpoint,
  loadLightningCheckpoint,
  loadModelDir,
  readSafetensors,
  saveModelDir,
  saveTrainingCheckpoint,
} from "@blockdiff/model/deno";
import { bytesToUnicode, loadHfTokenizer } from "@blockdiff/data";
import { readDocuments } from "@blockdiff/data/deno";
import { fixtureState, TINY } from "@blockdiff/model/testing";

/** The file kinds under test. */
export const FILE_KINDS = [
  "safetensors",
  "hf-dir",
  "train-ckpt",
  "lightning-ckpt",
  "tokenizer-bpe",
  "tokenizer-wordpiece",
  "jsonl",
  "jsonl.gz",
  "parquet",
  "txt",
] as const;

/** One file kind. */
export type FileKind = typeof FILE_KINDS[number];

/** How a case ended. */
export type Outcome = "ok" | "error" | "crash" | "hang";

/** The result of one case. */
export interface CaseResult {
  /** Case number within the run. */
  index: number;
  /** The case's own seed (replays it alone). */
  seed: number;
  kind: FileKind;
  /** The mutations applied, e.g. `bitflip×3`. */
  mutation: string;
  outcome: Outcome;
  /** The error's class and message for errors and crashes (shortened). */
  detail?: string;
}

/** A valid base file (or, for `hf-dir`, the files of a directory) of one kind. */
interface Base {
  /** File name → bytes. The first file is the one most mutations target. */
  files: [string, Uint8Array][];
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function jsonBytes(v: unknown): Uint8Array {
  return enc.encode(JSON.stringify(v, null, 2));
}

function tinyTensors(): TensorMap {
  const out: TensorMap = new Map();
  const r = new Rng(7);
  for (const p of expectedParameters(TINY)) {
    out.set(p.key, f32Tensor(p.shape, r.uniforms(p.shape.reduce((a, b) => a * b, 1))));
  }
  return out;
}

function bpeJson(): unknown {
  const vocab: Record<string, number> = {};
  bytesToUnicode().forEach((c, b) => (vocab[c] = b));
  const merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "o r", "Ġw or"];
  let next = 256;
  for (const m of merges) vocab[m.replace(" ", "")] = next++;
  return {
    version: "1.0",
    added_tokens: [{ id: next, content: "<|endoftext|>", special: true }],
    normalizer: null,
    // A Sequence around ByteLevel, so that self-nesting mutations reach the recursive walk.
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [{ type: "ByteLevel", add_prefix_space: false, use_regex: true }],
    },
    decoder: { type: "ByteLevel" },
    model: { type: "BPE", vocab, merges, unk_token: null },
  };
}

function wordPieceJson(): unknown {
  const words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "the", "un"];
  const vocab: Record<string, number> = {};
  [...words, "##aff", "##able", "##s", ",", ".", "!"].forEach((w, i) => (vocab[w] = i));
  return {
    added_tokens: words.slice(0, 5).map((c, id) => ({ id, content: c, special: true })),
    normalizer: { type: "BertNormalizer", clean_text: true, lowercase: true },
    pre_tokenizer: { type: "BertPreTokenizer" },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}

const DOCS = [
  "Hello world, the first document.",
  "Second one: unaffable worlds!",
  "Unicode ✓ — naïve café 日本語",
  "",
  "last",
];

/** Builds the valid base files of every kind (in memory, via a scratch directory). */
export async function buildBases(scratch: string): Promise<Map<FileKind, Base>> {
  const bases = new Map<FileKind, Base>();
  const tensors = tinyTensors();
  bases.set("safetensors", {
    files: [["model.safetensors", encodeSafetensors(tensors, { metadata: { note: "fuzz" } })]],
  });

  const hfDir = join(scratch, "hf");
  await saveModelDir(hfDir, TINY, tensors, { tokenizer: "bytes", maskId: TINY.vocab - 1 });
  const hfFiles: [string, Uint8Array][] = [];
  for (const f of ["model.safetensors", "config.json", "blockdiff.json"]) {
    hfFiles.push([f, await Deno.readFile(join(hfDir, f))]);
  }
  bases.set("hf-dir", { files: hfFiles });

  const ckDir = join(scratch, "ck");
  const path = await saveTrainingCheckpoint(ckDir, fixtureState(TINY, 3));
  bases.set("train-ckpt", {
    files: [
      [path.split("/").pop()!, await Deno.readFile(path)],
      ["latest", await Deno.readFile(join(ckDir, "latest"))],
    ],
  });

  bases.set("tokenizer-bpe", { files: [["tokenizer.json", jsonBytes(bpeJson())]] });
  bases.set("tokenizer-wordpiece", { files: [["tokenizer.json", jsonBytes(wordPieceJson())]] });
  const jsonl = enc.encode(DOCS.map((text, i) => JSON.stringify({ id: i, text })).join("\n"));
  bases.set("jsonl", { files: [["data.jsonl", jsonl]] });
  bases.set("jsonl.gz", { files: [["data.jsonl.gz", gzipSync(jsonl)]] });
  const parquet = parquetWriteBuffer({
    columnData: [
      { name: "id", data: DOCS.map((_, i) => i), type: "INT32" },
      { name: "text", data: DOCS, type: "STRING" },
    ],
    rowGroupSize: 2,
  });
  bases.set("parquet", { files: [["data.parquet", new Uint8Array(parquet)]] });
  bases.set("txt", { files: [["data.txt", enc.encode(DOCS.join("\n\n") + "\n")]] });
  const lightning = encodeLightningCheckpoint({ config: TINY, weights: tensors, step: 3 });
  bases.set("lightning-ckpt", { files: [["last.ckpt", concat(...lightning)]] });
  return bases;
}

// ---------------------------------------------------------------------------------------------
// Mutations

type Path = (string | number)[];

function pick<T>(r: Rng, xs: readonly T[]): T {
  return xs[r.int(0, xs.length - 1)];
}

/** Every path to a value inside a parsed JSON document (the root excluded). */
function paths(root: unknown, limit = 4000): Path[] {
  const out: Path[] = [];
  const stack: [unknown, Path][] = [[root, []]];
  while (stack.length && out.length < limit) {
    const [v, p] = stack.pop()!;
    if (p.length) out.push(p);
    if (Array.isArray(v)) v.forEach((c, i) => stack.push([c, [...p, i]]));
    else if (v && typeof v === "object") {
      for (const [k, c] of Object.entries(v)) stack.push([c, [...p, k]]);
    }
  }
  return out;
}

function getAt(root: unknown, p: Path): unknown {
  let v = root as Record<string | number, unknown>;
  for (const k of p) v = v[k] as Record<string | number, unknown>;
  return v;
}

function setAt(root: unknown, p: Path, value: unknown): void {
  const parent = getAt(root, p.slice(0, -1)) as Record<string | number, unknown>;
  parent[p[p.length - 1]] = value;
}

const SENTINEL = "\u0000fuzz-hole\u0000";
const HOLE = JSON.stringify(SENTINEL);

/** Serialises `root` with the value at `p` replaced by raw JSON text `raw`. */
function withRaw(root: unknown, p: Path, raw: string): string {
  const copy = structuredClone(root);
  if (p.length === 0) return raw;
  setAt(copy, p, SENTINEL);
  return JSON.stringify(copy).replace(HOLE, () => raw);
}

/** Raw JSON texts of hostile values. */
function hostileValue(r: Rng): [string, string] {
  const n = r.int(0, 15);
  switch (n) {
    case 0:
      return ["huge", pick(r, ["1e308", "1e999", "9007199254740993", "18446744073709551616"])];
    case 1:
      return ["negative", pick(r, ["-1", "-1e308", "-9007199254740993", "-0"])];
    case 2:
      return ["fraction", pick(r, ["0.5", "1e-320", "3.0000000001"])];
    case 3:
      return ["zero", "0"];
    case 4:
      return ["string", pick(r, ['""', '"x"', '"NaN"', '"\\u0000"', '"__proto__"'])];
    case 5:
      return ["enormous-string", JSON.stringify("A".repeat(r.int(1, 4) * 1_000_000))];
    case 6:
      return ["bool", pick(r, ["true", "false"])];
    case 7:
      return ["null", "null"];
    case 8:
      return ["array", pick(r, ["[]", "[1,2,3]", '["a"]', "[[]]"])];
    case 9:
      return ["object", pick(r, ["{}", '{"a":1}', '{"__proto__":{"x":1}}'])];
    case 10: {
      const d = r.int(1, 4) * 50_000;
      return ["deep-array", "[".repeat(d) + "]".repeat(d)];
    }
    case 11: {
      const d = r.int(1, 4) * 50_000;
      return ["deep-object", '{"a":'.repeat(d) + "1" + "}".repeat(d)];
    }
    case 12:
      return ["huge-array", "[" + new Array(r.int(1, 3) * 200_000).fill("1").join(",") + "]"];
    case 13:
      return ["big-shape", pick(r, ["[1000000000,1000000000]", "[4294967296]", "[-1,4]"])];
    case 14:
      return ["offsets", pick(r, ["[0,18446744073709551615]", "[5,2]", "[0,1e20]"])];
    default:
      return ["huge-count", pick(r, ["4294967296", "2147483648", "100000000000"])];
  }
}

/** A JSON value swap in `text`: replace, delete, or self-nest a random node. */
function mutateJsonText(r: Rng, text: string): [string, string] {
  // An earlier round may have made the document huge or deep; re-parsing it is not the test.
  if (text.length > 1_000_000) throw new RangeError("document too large to mutate as JSON");
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    return [text, "json-unparsable"];
  }
  const ps = paths(root);
  if (!ps.length) return [hostileValue(r)[1], "json-root"];
  const p = pick(r, ps);
  const op = r.next();
  if (op < 0.7) {
    const [what, raw] = hostileValue(r);
    return [withRaw(root, p, raw), `json-${what}@${p.join(".")}`];
  }
  if (op < 0.85) {
    const copy = structuredClone(root);
    const parent = getAt(copy, p.slice(0, -1));
    if (Array.isArray(parent)) parent.splice(p[p.length - 1] as number, 1);
    else delete (parent as Record<string, unknown>)[p[p.length - 1] as string];
    return [JSON.stringify(copy), `json-delete@${p.join(".")}`];
  }
  // Self-nesting: embed an ancestor inside itself many times (e.g. Sequence in Sequence).
  const cut = r.int(0, p.length - 1);
  const anc = p.slice(0, cut);
  const rel = p.slice(cut);
  const ancestor = getAt(root, anc);
  const inner = withRaw(ancestor, rel, HOLE);
  const [pre, post] = inner.split(HOLE);
  // Deep, but at most ~2 MB of text: the point is the depth, not the size.
  const depth = Math.max(2, Math.min(r.int(1, 4) * 10_000, Math.floor(2e6 / inner.length)));
  const leaf = JSON.stringify(getAt(root, p)) ?? "null";
  const nested = pre.repeat(depth) + leaf + post.repeat(depth);
  return [withRaw(root, anc, nested), `json-self-nest×${depth}@${p.join(".")}`];
}

function u64(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n, true);
  return b;
}

/** A safetensors file with its header JSON replaced, the length field fixed up (or not). */
function mutateSafetensorsHeader(
  r: Rng,
  bytes: Uint8Array,
  stateDoc: boolean,
): [Uint8Array, string] {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = dec.decode(bytes.subarray(8, 8 + n));
  let text: string;
  let what: string;
  if (stateDoc) {
    // The training state document is JSON inside a JSON string of __metadata__.
    const h = JSON.parse(header);
    const [doc, w] = mutateJsonText(r, h.__metadata__["blockdiff.state"]);
    h.__metadata__["blockdiff.state"] = doc;
    text = JSON.stringify(h);
    what = `state-${w}`;
  } else {
    [text, what] = mutateJsonText(r, header);
  }
  const body = enc.encode(text);
  const len = r.next() < 0.9 ? BigInt(body.length) : BigInt(n);
  const out = concat(u64(len), body, bytes.subarray(8 + n));
  return [out, `header-${what}`];
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A binary mutation of `bytes`. */
function mutateBytes(r: Rng, bytes: Uint8Array, kind: FileKind): [Uint8Array, string] {
  const len = bytes.length;
  const at = () => r.int(0, Math.max(0, len - 1));
  switch (r.int(0, 7)) {
    case 0: {
      const out = bytes.slice();
      const k = r.int(1, 8);
      for (let i = 0; i < k && len; i++) out[at()] ^= 1 << r.int(0, 7);
      return [out, `bitflip×${k}`];
    }
    case 1: {
      const pos = r.int(0, len);
      const ins = new Uint8Array(r.int(1, 64));
      for (let i = 0; i < ins.length; i++) ins[i] = r.int(0, 255);
      return [concat(bytes.subarray(0, pos), ins, bytes.subarray(pos)), `insert×${ins.length}`];
    }
    case 2: {
      const pos = at();
      const k = r.int(1, 64);
      return [concat(bytes.subarray(0, pos), bytes.subarray(pos + k)), `delete×${k}`];
    }
    case 3: {
      const pos = r.int(0, len - 1);
      return [bytes.slice(0, pos), `truncate@${pos}/${len}`];
    }
    case 4: {
      // Splice: a chunk of the file copied over another place of it.
      const a = at();
      const b = at();
      const k = r.int(1, 256);
      const out = bytes.slice();
      out.set(bytes.subarray(a, a + k).subarray(0, Math.max(0, len - b)), b);
      return [out, `splice ${a}→${b}×${k}`];
    }
    case 5: {
      const out = bytes.slice();
      const pos = at();
      const k = Math.min(r.int(1, 32), len - pos);
      for (let i = 0; i < k; i++) out[pos + i] = pick(r, [0x00, 0xff, 0x7f, 0x80, r.int(0, 255)]);
      return [out, `overwrite×${k}`];
    }
    case 6:
      return lengthFieldEdit(r, bytes, kind);
    default: {
      // Duplicate a region (repeated records, doubled footers).
      const a = at();
      const k = r.int(1, 512);
      const pos = r.int(0, len);
      return [
        concat(bytes.subarray(0, pos), bytes.subarray(a, a + k), bytes.subarray(pos)),
        `duplicate×${k}`,
      ];
    }
  }
}

/** Edits the length field of the format: safetensors' u64 header length, parquet's footer. */
function lengthFieldEdit(r: Rng, bytes: Uint8Array, kind: FileKind): [Uint8Array, string] {
  const out = bytes.slice();
  const dv = new DataView(out.buffer);
  if (["safetensors", "hf-dir", "train-ckpt"].includes(kind) && out.length >= 8) {
    const n = dv.getBigUint64(0, true);
    const v = pick(r, [
      0n,
      1n,
      7n,
      n - 1n,
      n + 1n,
      n + 8n,
      BigInt(out.length),
      BigInt(out.length - 8),
      2n ** 32n,
      2n ** 53n + 1n,
      2n ** 63n,
      2n ** 64n - 1n,
      BigInt(r.int(0, 2 ** 30)),
    ]);
    dv.setBigUint64(0, v, true);
    return [out, `length-field=${v}`];
  }
  if (kind === "parquet" && out.length >= 8) {
    const v = pick(r, [0, 1, out.length, out.length - 8, 0x7fffffff, 0xffffffff, r.int(0, 4096)]);
    dv.setUint32(out.length - 8, v, true);
    return [out, `footer-length=${v}`];
  }
  if (kind === "jsonl.gz" && out.length >= 8) {
    // ISIZE (uncompressed length) and CRC of the gzip trailer.
    const v = pick(r, [0, 1, 0xffffffff, r.int(0, 2 ** 31)]);
    dv.setUint32(out.length - pick(r, [4, 8]), v, true);
    return [out, `gzip-trailer=${v}`];
  }
  const pos = r.int(0, out.length);
  return [
    concat(out.subarray(0, pos), enc.encode("\n".repeat(r.int(1, 3))), out.subarray(pos)),
    "newlines",
  ];
}

/**
 * A mutation suited to `kind`, applied to `bytes` of file `name`. A structured mutation of a file
 * that an earlier round already broke falls back to a binary one.
 */
function mutateFile(r: Rng, kind: FileKind, name: string, bytes: Uint8Array): [Uint8Array, string] {
  try {
    return mutateStructured(r, kind, name, bytes) ?? mutateBytes(r, bytes, kind);
  } catch {
    return mutateBytes(r, bytes, kind);
  }
}

function mutateStructured(
  r: Rng,
  kind: FileKind,
  name: string,
  bytes: Uint8Array,
): [Uint8Array, string] | null {
  const json = name.endsWith(".json");
  const st = name.endsWith(".safetensors");
  const p = r.next();
  if (json && p < 0.6) {
    const [t, w] = mutateJsonText(r, dec.decode(bytes));
    return [enc.encode(t), w];
  }
  if (st && p < 0.5) return mutateSafetensorsHeader(r, bytes, kind === "train-ckpt" && p < 0.2);
  if ((kind === "jsonl" || kind === "jsonl.gz") && p < 0.5) {
    // A JSON value swap inside one line (re-compressed for .gz, so the swap is what is tested).
    const lines = dec.decode(kind === "jsonl" ? bytes : gunzipSync(bytes)).split("\n");
    const i = r.int(0, lines.length - 1);
    const [t, w] = mutateJsonText(r, lines[i]);
    lines[i] = t;
    const text = enc.encode(lines.join("\n"));
    return [kind === "jsonl" ? text : gzipSync(text), `line${i + 1}-${w}`];
  }
  if (kind === "lightning-ckpt" && p < 0.4) return hostilePickle(r);
  if (kind === "txt" && p < 0.3) {
    const pos = r.int(0, bytes.length);
    const junk = pick(r, [
      new Uint8Array([0xff, 0xfe, 0xc3]),
      enc.encode("x".repeat(2_000_000)),
      new Uint8Array(1000),
      enc.encode("\r\n\r\n\r"),
    ]);
    return [concat(bytes.subarray(0, pos), junk, bytes.subarray(pos)), `txt-insert×${junk.length}`];
  }
  return null;
}

/**
 * A torch zip whose `data.pkl` is hostile: code execution (os.system / builtins.eval via
 * REDUCE), huge lengths, deep MARK nesting, or opcode soup. None may run; all must fail cleanly.
 */
function hostilePickle(r: Rng): [Uint8Array, string] {
  const b = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
  const cases: [string, () => Uint8Array][] = [
    ["pickle-os.system", () => b("\x80\x02cposix\nsystem\nX\x08\x00\x00\x00touch /x\x85R.")],
    ["pickle-eval", () => b("\x80\x02c__builtin__\neval\nX\x01\x00\x00\x001\x85R.")],
    ["pickle-huge-string", () => b("\x80\x02X\xff\xff\xff\x7fabc.")],
    ["pickle-deep-marks", () => new Uint8Array(r.int(1, 4) * 20_000).fill(0x28)],
    ["pickle-soup", () => Uint8Array.from({ length: r.int(1, 4000) }, () => r.int(0, 255))],
  ];
  const [what, make] = pick(r, cases);
  return [zipSync({ "archive/data.pkl": [make(), { level: 0 }] }), what];
}

// ---------------------------------------------------------------------------------------------
// Running one case

/** What the loaders read of a tokenizer: encode and decode a short text. */
const SAMPLE = "Hello world, unaffable <|endoftext|> [MASK] naïve 日本";

async function load(kind: FileKind, target: string, dir: string): Promise<void> {
  switch (kind) {
    case "safetensors": {
      await readSafetensors(target);
      decodeSafetensors(await Deno.readFile(target), target);
      return;
    }
    case "hf-dir":
      await loadModelDir(dir);
      return;
    case "train-ckpt":
      await loadLatestCheckpoint(dir);
      return;
    case "lightning-ckpt":
      await loadLightningCheckpoint(target);
      return;
    case "tokenizer-bpe":
    case "tokenizer-wordpiece": {
      const tok = await loadHfTokenizer(target);
      tok.decode(tok.encode(SAMPLE));
      tok.decode([tok.bosId, tok.maskId, tok.padId, tok.vocabSize - 1]);
      return;
    }
    default: {
      let n = 0;
      for await (const d of readDocuments(target)) n += d.text.length;
      void n;
    }
  }
}

/**
 * Runs case `index` of a run: picks a kind and a mutation from `seed`, writes the mutated file
 * under `scratch`, loads it, and classifies the outcome. A clean error is a
 * {@linkcode BlockdiffError} whose message names the file (or, for a model or checkpoint
 * directory, the directory); anything else is a crash.
 */
export async function runCase(
  bases: Map<FileKind, Base>,
  scratch: string,
  index: number,
  seed: number,
): Promise<CaseResult> {
  const r = new Rng(seed);
  const kind = FILE_KINDS[index % FILE_KINDS.length];
  const base = bases.get(kind)!;
  const dir = join(scratch, `case-${index}`);
  await Deno.mkdir(dir, { recursive: true });
  // Most mutations target the main file; the rest the side files (config.json, latest, …).
  const which = base.files.length > 1 && r.next() < 0.3 ? r.int(1, base.files.length - 1) : 0;
  const mutations: string[] = [];
  const files = base.files.map(([name, bytes]) => [name, bytes] as [string, Uint8Array]);
  const rounds = r.next() < 0.8 ? 1 : r.int(2, 4);
  for (let i = 0; i < rounds; i++) {
    const [name, bytes] = files[which];
    const [out, what] = mutateFile(r, kind, name, bytes);
    files[which] = [name, out];
    mutations.push(what.length > 80 ? what.slice(0, 80) + "…" : what);
  }
  for (const [name, bytes] of files) await Deno.writeFile(join(dir, name), bytes);
  const target = join(dir, files[0][0]);
  const named = kind === "hf-dir" || kind === "train-ckpt" ? dir : target;
  const result: CaseResult = { index, seed, kind, mutation: mutations.join(" + "), outcome: "ok" };
  try {
    await load(kind, target, dir);
  } catch (e) {
    const err = e as Error;
    const detail = `${err?.name ?? typeof e}: ${String(err?.message ?? e).slice(0, 300)}`;
    const clean = e instanceof BlockdiffError && e.message.includes(named);
    result.outcome = clean ? "error" : "crash";
    result.detail = clean ? detail : `${detail}\n${err?.stack ?? ""}`.slice(0, 1500);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  return result;
}
