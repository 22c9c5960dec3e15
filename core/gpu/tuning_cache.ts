/**
 * Deno-side cache of per-adapter tuning tables: one JSON file per adapter under the user's
 * cache directory, written atomically, with the `BLOCKDIFF_TUNE` switch. It knows nothing of
 * what is tuned: the kernels that tune pass their identity, parser and tuner
 * (`loadOrTuneMatmul` of `@blockdiff/kernels/deno`), so the runtime stays below the kernels.
 *
 * Location: `$BLOCKDIFF_CACHE_DIR`, else `$XDG_CACHE_HOME/blockdiff`, else
 * `~/.cache/blockdiff` (`%LOCALAPPDATA%\blockdiff` on Windows); file
 * `tuning-<hash of the adapter identity>.json`.
 * @module
 */
import { join } from "node:path";

/**
 * `off`: no tuning (fixed rules only); `auto`: use the cache, tune when it has no valid
 * table; `force`: retune and overwrite the cache.
 */
export type TuneMode = "off" | "auto" | "force";

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env: as if unset
  }
}

/**
 * The mode `BLOCKDIFF_TUNE` asks for: `0` (or `off`, `false`, `no`) disables tuning, `force`
 * retunes and rewrites the cache; anything else, or unset, is `auto`.
 */
export function tuneModeFromEnv(): TuneMode {
  const v = (env("BLOCKDIFF_TUNE") ?? "").trim().toLowerCase();
  if (["0", "off", "false", "no"].includes(v)) return "off";
  if (v === "force") return "force";
  return "auto";
}

/**
 * The mode a caller's options ask for, over `BLOCKDIFF_TUNE`: `disabled` (or the variable
 * saying off) turns tuning off, `retune` (or `force`) retunes, else the cache decides.
 */
export function tuneModeFor(opts: { disabled?: boolean; retune?: boolean }): TuneMode {
  const fromEnv = tuneModeFromEnv();
  if (opts.disabled ?? fromEnv === "off") return "off";
  return opts.retune ?? fromEnv === "force" ? "force" : "auto";
}

/**
 * The directory tuning files live in: `dir` if given, else `$BLOCKDIFF_CACHE_DIR`, else
 * `$XDG_CACHE_HOME/blockdiff`, else `~/.cache/blockdiff` (`%LOCALAPPDATA%\blockdiff` on
 * Windows); null when none of these can be worked out (then nothing is cached).
 */
export function tuningCacheDir(dir?: string): string | null {
  if (dir) return dir;
  const own = env("BLOCKDIFF_CACHE_DIR");
  if (own) return own;
  const xdg = env("XDG_CACHE_HOME");
  if (xdg) return join(xdg, "blockdiff");
  if (Deno.build.os === "windows") {
    const local = env("LOCALAPPDATA");
    if (local) return join(local, "blockdiff");
  }
  const home = env("HOME") ?? env("USERPROFILE");
  return home ? join(home, ".cache", "blockdiff") : null;
}

/**
 * blockdiff's per-user cache directory (tuning files, token caches): the same rules as
 * {@linkcode tuningCacheDir} without an explicit directory.
 */
export function blockdiffCacheDir(): string | null {
  return tuningCacheDir();
}

/** JSON with object keys sorted, so equal identities hash alike whatever their key order. */
function canonicalJson(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonicalJson).join(",")}]`;
  if (typeof x === "object" && x !== null) {
    const entries = Object.entries(x).filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(x);
}

/** The first 16 hex digits of the SHA-256 of an adapter identity's canonical JSON. */
export async function adapterHash(identity: unknown): Promise<string> {
  const bytes = new TextEncoder().encode(canonicalJson(identity));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The tuning file of an adapter identity (see `tuningCacheDir`), or null without a directory. */
export async function tuningCachePath(identity: unknown, dir?: string): Promise<string | null> {
  const d = tuningCacheDir(dir);
  return d ? join(d, `tuning-${await adapterHash(identity)}.json`) : null;
}

/**
 * Reads and parses a JSON file; undefined when it is missing, unreadable or not JSON (a
 * corrupt cache file is treated as absent, never as an error).
 */
export async function readJsonFile(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
}

/**
 * Writes `value` as JSON to `path` atomically: into a temporary file in the same directory
 * (created if needed), then renamed over `path`, so readers see the old file or the new one,
 * never a torn one, even when two processes write at once.
 */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const dir = join(path, "..");
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(value, null, 2) + "\n");
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/** What `loadOrTune` needs from the caller. */
export interface LoadOrTuneOptions<T> {
  /** Identifies the adapter; its hash names the file. */
  identity: unknown;
  /**
   * Turns a cached file's JSON into a table, or null when it is malformed, of an old format or
   * for other kernels or another adapter (then it is retuned and overwritten).
   */
  parse: (json: unknown) => T | null;
  /** Measures a fresh table. */
  tune: () => Promise<T>;
  /** Directory of the file (see `tuningCacheDir`). */
  cacheDir?: string;
  /** `auto` by default, or what `BLOCKDIFF_TUNE` says when omitted (`tuneModeFromEnv`). */
  mode?: TuneMode;
  /** Told before tuning starts (it takes seconds), with the file it will write. */
  onTune?: (path: string | null) => void;
}

/** What `loadOrTune` found or did. */
export interface LoadedTuning<T> {
  /** The table, or null when tuning is off. */
  table: T | null;
  /** `cache`: read from the file; `tuned`: measured now; `off`: tuning disabled. */
  source: "cache" | "tuned" | "off";
  /** The tuning file (null without a cache directory). */
  path: string | null;
  /** Why a freshly tuned table could not be saved (it is used anyway). */
  saveError?: string;
}

/**
 * Returns the cached table for an adapter, or tunes one and caches it. A missing, unreadable,
 * corrupt or stale file (`parse` gives null) is retuned and rewritten; a file that cannot be
 * written is reported in `saveError`, never thrown. Errors of `tune` itself propagate.
 */
export async function loadOrTune<T>(opts: LoadOrTuneOptions<T>): Promise<LoadedTuning<T>> {
  const mode = opts.mode ?? tuneModeFromEnv();
  const path = await tuningCachePath(opts.identity, opts.cacheDir);
  if (mode === "off") return { table: null, source: "off", path };
  if (mode === "auto" && path) {
    const json = await readJsonFile(path);
    const table = json === undefined ? null : opts.parse(json);
    if (table) return { table, source: "cache", path };
  }
  opts.onTune?.(path);
  const table = await opts.tune();
  if (!path) return { table, source: "tuned", path, saveError: "no cache directory" };
  try {
    await writeJsonAtomic(path, table);
    return { table, source: "tuned", path };
  } catch (e) {
    return { table, source: "tuned", path, saveError: (e as Error).message };
  }
}
