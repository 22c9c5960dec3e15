/**
 * An on-disk cache of tokenized documents: gzip-compressed shards (fflate) in a directory per
 * key, written to a temporary directory and renamed into place when complete, so a partial
 * run never leaves a readable entry and a second run streams the tokens straight back.
 * @module
 */
import { gunzipSync, gzipSync } from "fflate";
import { join } from "node:path";
import { blockdiffCacheDir } from "@blockdiff/core/deno";
import { DataError } from "./errors.ts";

const MAGIC = 0x31434442; // "BDC1" little-endian
const FORMAT = 1;

/**
 * The token cache directory: `$BLOCKDIFF_CACHE`, else `tokens/` in blockdiff's user cache
 * (`$BLOCKDIFF_CACHE_DIR`, `${XDG_CACHE_HOME:-~/.cache}/blockdiff`), so runs started from
 * different directories share one cache; `.cache/blockdiff` under the current directory only
 * when no home directory is known.
 */
export function defaultCacheDir(): string {
  const own = Deno.env.get("BLOCKDIFF_CACHE");
  if (own) return own;
  const root = blockdiffCacheDir();
  return root ? join(root, "tokens") : join(Deno.cwd(), ".cache", "blockdiff");
}

/** SHA-256 hex of a string. */
export async function sha256Hex(text: string | Uint8Array): Promise<string> {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const SAMPLE = 64 * 1024;

/**
 * A cheap fingerprint of a source file without reading it all: SHA-256 over its absolute
 * path, size, mtime, and its first and last 64 KiB.
 */
export async function fileFingerprint(path: string): Promise<string> {
  const abs = await Deno.realPath(path).catch((e) => {
    throw new DataError("file not found.", { file: path, fix: "check the path.", cause: e });
  });
  const file = await Deno.open(abs, { read: true });
  try {
    const st = await file.stat();
    const head = new Uint8Array(Math.min(SAMPLE, st.size));
    await readFull(file, head);
    const tail = new Uint8Array(Math.min(SAMPLE, st.size));
    await file.seek(st.size - tail.length, Deno.SeekMode.Start);
    await readFull(file, tail);
    const meta = new TextEncoder().encode(`${abs}\0${st.size}\0${st.mtime?.getTime() ?? 0}\0`);
    const all = new Uint8Array(meta.length + head.length + tail.length);
    all.set(meta);
    all.set(head, meta.length);
    all.set(tail, meta.length + head.length);
    return await sha256Hex(all);
  } finally {
    file.close();
  }
}

async function readFull(file: Deno.FsFile, out: Uint8Array): Promise<void> {
  let off = 0;
  while (off < out.length) {
    const n = await file.read(out.subarray(off));
    if (n === null) break;
    off += n;
  }
}

/** What a finished cache entry holds. */
export interface CacheManifest {
  /** Cache format version; entries of another version are treated as absent. */
  format: number;
  /** The entry's key (its subdirectory name). */
  key: string;
  /** Number of `shard-NNNNN.bin.gz` files. */
  shards: number;
  /** Number of documents in all shards. */
  documents: number;
  /** Number of tokens in all shards. */
  tokens: number;
  /** Free-form description given by the writer (source, tokenizer, options). */
  meta: Record<string, unknown>;
}

function encodeShard(docs: Int32Array[]): Uint8Array {
  let tokens = 0;
  for (const d of docs) tokens += d.length;
  const words = new Int32Array(2 + docs.length + tokens);
  words[0] = MAGIC;
  words[1] = docs.length;
  let k = 2;
  for (const d of docs) words[k++] = d.length;
  for (const d of docs) {
    words.set(d, k);
    k += d.length;
  }
  return gzipSync(new Uint8Array(words.buffer), { level: 1 });
}

function decodeShard(bytes: Uint8Array, where: string): Int32Array[] {
  let raw: Uint8Array;
  try {
    raw = gunzipSync(bytes);
  } catch (e) {
    throw new DataError("corrupt cache shard.", {
      file: where,
      fix: "delete the cache directory entry and run again.",
      cause: e,
    });
  }
  const words = new Int32Array(raw.buffer, raw.byteOffset, raw.byteLength >> 2);
  if (words[0] !== MAGIC) {
    throw new DataError("not a token cache shard.", {
      file: where,
      fix: "delete the cache directory entry and run again.",
    });
  }
  const n = words[1];
  const out: Int32Array[] = [];
  let k = 2 + n;
  for (let i = 0; i < n; i++) {
    const len = words[2 + i];
    out.push(words.slice(k, k + len));
    k += len;
  }
  return out;
}

/** Options of {@link TokenCache.documents}. */
export interface CacheWriteOptions {
  /** Tokens per shard before a new one starts. Default 2²⁰. */
  shardTokens?: number;
  /** Description stored in the manifest. */
  meta?: Record<string, unknown>;
}

/** A directory of cache entries, one subdirectory per key. */
export class TokenCache {
  /** The cache directory. */
  readonly dir: string;
  /** Uses `dir`, default {@link defaultCacheDir}; nothing is created until a write. */
  constructor(dir: string = defaultCacheDir()) {
    this.dir = dir;
  }

  /** The directory of one entry. */
  entryDir(key: string): string {
    return `${this.dir}/${key}`;
  }

  /** The manifest of a finished entry, or undefined when absent. */
  async manifest(key: string): Promise<CacheManifest | undefined> {
    try {
      const m = JSON.parse(await Deno.readTextFile(`${this.entryDir(key)}/manifest.json`));
      return m.format === FORMAT ? m : undefined;
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return undefined;
      throw e;
    }
  }

  /** Streams the documents of a finished entry, one shard in memory at a time. */
  async *read(key: string): AsyncGenerator<Int32Array> {
    const m = await this.manifest(key);
    if (!m) throw new DataError(`no cache entry ${key}.`, { file: this.dir });
    for (let s = 0; s < m.shards; s++) {
      const path = `${this.entryDir(key)}/shard-${String(s).padStart(5, "0")}.bin.gz`;
      yield* decodeShard(await Deno.readFile(path), path);
    }
  }

  /**
   * The documents for `key`: from the cache when present; otherwise from `build()`, writing
   * them to a temporary directory that is renamed into place once the stream is exhausted.
   */
  async *documents(
    key: string,
    build: () => AsyncIterable<ArrayLike<number>>,
    options: CacheWriteOptions = {},
  ): AsyncGenerator<Int32Array> {
    if (await this.manifest(key)) {
      yield* this.read(key);
      return;
    }
    await Deno.mkdir(this.dir, { recursive: true });
    const tmp = await Deno.makeTempDir({ dir: this.dir, prefix: `.tmp-${key.slice(0, 16)}-` });
    let done = false;
    try {
      const limit = options.shardTokens ?? 1 << 20;
      let shard: Int32Array[] = [];
      let shardTokens = 0;
      let shards = 0;
      let documents = 0;
      let tokens = 0;
      const flush = async () => {
        const name = `shard-${String(shards++).padStart(5, "0")}.bin.gz`;
        await Deno.writeFile(`${tmp}/${name}`, encodeShard(shard));
        shard = [];
        shardTokens = 0;
      };
      for await (const doc of build()) {
        const ids = doc instanceof Int32Array ? doc : Int32Array.from(doc);
        shard.push(ids);
        shardTokens += ids.length;
        documents++;
        tokens += ids.length;
        yield ids;
        if (shardTokens >= limit) await flush();
      }
      if (shard.length || shards === 0) await flush();
      const manifest: CacheManifest = {
        format: FORMAT,
        key,
        shards,
        documents,
        tokens,
        meta: options.meta ?? {},
      };
      await Deno.writeTextFile(`${tmp}/manifest.json`, JSON.stringify(manifest));
      try {
        await Deno.rename(tmp, this.entryDir(key));
        done = true;
      } catch (e) {
        // Another run finished the same entry first; keep theirs.
        if (!(await this.manifest(key))) throw e;
      }
    } finally {
      if (!done) await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  }
}
