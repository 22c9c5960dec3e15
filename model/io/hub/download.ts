/**
 * One file from the Hub into the cache, by huggingface_hub's protocol: a `HEAD` of
 * `{endpoint}/{repo}/resolve/{revision}/{file}` without following redirects to other hosts
 * gives the commit (`X-Repo-Commit`), the blob's ETag (`X-Linked-Etag` for large files stored
 * elsewhere, else `ETag`) and size (`X-Linked-Size`, else `Content-Length`); the bytes are
 * fetched into `blobs/<etag>.incomplete`, resumed with `Range` after an interruption, checked
 * against the ETag (SHA-256 for large files, the git blob SHA-1 otherwise) and renamed into place.
 * @module
 */
import { createHash } from "node:crypto";
import type { HubSettings } from "./env.ts";
import { HubError } from "./errors.ts";
import type { ByteProgress } from "./progress.ts";
import {
  blobPath,
  cachedCommit,
  exists,
  isCommitHash,
  linkSnapshot,
  repoFolder,
  snapshotPath,
  writeRef,
} from "./cache.ts";

/** A relative path of plain segments: no `..`, no absolute path, no backslash or control byte. */
export function isSafeFileName(file: string): boolean {
  return file.length > 0 && file.length <= 512 && /^[\w.+-]+(\/[\w.+-]+)*$/.test(file) &&
    !file.split("/").some((seg) => seg === "." || seg === "..");
}

/** Thrown for a file the repository does not have (callers may treat it as optional). */
export class HubEntryNotFound extends HubError {}

/** What a `HEAD` of a file said. */
interface FileMeta {
  commit: string;
  etag: string;
  size: number;
  /** Where the bytes are (the redirect target for large files). */
  location: string;
}

function normEtag(v: string | null): string | null {
  return v ? v.replace(/^W\//, "").replace(/^"|"$/g, "") : null;
}

/** ETags and commits name cache paths, so anything but a plain token is refused. */
function checkMeta(meta: FileMeta, repo: string, file: string): FileMeta {
  if (
    !/^[0-9a-f]{40}$/.test(meta.commit) || !/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(meta.etag)
  ) {
    throw new HubError(
      `${repo}: ${file}: the server sent a malformed commit or ETag; HF_ENDPOINT must point at ` +
        "a Hugging Face Hub (or a mirror of its protocol)",
    );
  }
  if (!Number.isSafeInteger(meta.size) || meta.size < 0) {
    throw new HubError(`${repo}: ${file}: the server sent an invalid size ${meta.size}`);
  }
  return meta;
}

/** Request headers for `url`: the token only goes to the endpoint's own origin. */
function headersFor(url: string, s: HubSettings, extra: Record<string, string> = {}): Headers {
  const h = new Headers({ "Accept-Encoding": "identity", ...extra });
  if (s.token && new URL(url).origin === new URL(s.endpoint).origin) {
    h.set("Authorization", `Bearer ${s.token}`);
  }
  return h;
}

function fileUrl(s: HubSettings, repo: string, revision: string, file: string): string {
  const path = file.split("/").map(encodeURIComponent).join("/");
  return `${s.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${path}`;
}

/** Sends a request, turning a network failure into one line. */
async function send(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, redirect: "manual" });
  } catch (e) {
    throw new HubError(
      `${what}: cannot reach ${new URL(url).origin} (${(e as Error).message}); check the ` +
        "network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the cache",
      { cause: e },
    );
  }
}

/** Maps a failed status to one line with the fix. */
function statusError(res: Response, repo: string, revision: string, file: string): HubError {
  const code = res.headers.get("X-Error-Code");
  const what = `${repo}@${revision}: ${file}`;
  if (code === "RepoNotFound" || (res.status === 401 && code !== "GatedRepo" && !code)) {
    return new HubError(
      `${repo}: no such model on the Hub (HTTP ${res.status}); check the name, or set HF_TOKEN ` +
        "if it is private",
    );
  }
  if (code === "RevisionNotFound") {
    return new HubError(
      `${repo}: no revision '${revision}'; give an existing branch, tag or commit`,
    );
  }
  if (code === "EntryNotFound" || res.status === 404) {
    return new HubEntryNotFound(`${what}: no such file in the repository`);
  }
  if (res.status === 401 || res.status === 403 || code === "GatedRepo") {
    return new HubError(
      `${what}: access denied (HTTP ${res.status}); set HF_TOKEN to a token that may read ` +
        `${repo} (accept its terms on the Hub if it is gated)`,
    );
  }
  return new HubError(`${what}: the Hub answered HTTP ${res.status}; try again later`);
}

/** HEADs a file, following same-host redirects (renamed repositories) but not CDN ones. */
async function headFile(
  s: HubSettings,
  repo: string,
  revision: string,
  file: string,
): Promise<FileMeta> {
  let url = fileUrl(s, repo, revision, file);
  for (let hops = 0; hops < 10; hops++) {
    const res = await send(
      url,
      { method: "HEAD", headers: headersFor(url, s) },
      `${repo}: ${file}`,
    );
    await res.body?.cancel();
    const loc = res.headers.get("Location");
    const commit = res.headers.get("X-Repo-Commit");
    const linkedEtag = normEtag(res.headers.get("X-Linked-Etag"));
    if (res.status >= 300 && res.status < 400 && loc) {
      const next = new URL(loc, url).href;
      if (new URL(next).origin === new URL(url).origin && !linkedEtag) {
        url = next;
        continue;
      }
      const size = Number(res.headers.get("X-Linked-Size") ?? res.headers.get("Content-Length"));
      const etag = linkedEtag ?? normEtag(res.headers.get("ETag"));
      if (!commit || !etag || !Number.isFinite(size)) break;
      return checkMeta({ commit, etag, size, location: next }, repo, file);
    }
    if (!res.ok) throw statusError(res, repo, revision, file);
    const etag = linkedEtag ?? normEtag(res.headers.get("ETag"));
    const size = Number(res.headers.get("X-Linked-Size") ?? res.headers.get("Content-Length"));
    if (!commit || !etag || !Number.isFinite(size)) break;
    return checkMeta({ commit, etag, size, location: url }, repo, file);
  }
  throw new HubError(
    `${repo}: ${file}: the server at ${s.endpoint} did not send X-Repo-Commit and ETag; ` +
      "HF_ENDPOINT must point at a Hugging Face Hub (or a mirror of its protocol)",
  );
}

/** Hashes what a partial file already holds, so a resumed download can still be checked. */
async function hashPrefix(path: string, hash: ReturnType<typeof createHash>): Promise<number> {
  let n = 0;
  const f = await Deno.open(path, { read: true });
  try {
    for await (const chunk of f.readable) {
      hash.update(chunk);
      n += chunk.length;
    }
  } catch {
    // readable closes the file itself
  }
  return n;
}

/** The hash an ETag names, if it names one: SHA-256 of the bytes, or git's blob SHA-1. */
function hasherFor(etag: string, size: number): ReturnType<typeof createHash> | null {
  if (/^[0-9a-f]{64}$/.test(etag)) return createHash("sha256");
  if (/^[0-9a-f]{40}$/.test(etag)) return createHash("sha1").update(`blob ${size}\0`);
  return null;
}

/** Fetches the bytes of `meta` into `blob`, resuming `blob.incomplete` with `Range`. */
async function fetchBlob(
  s: HubSettings,
  meta: FileMeta,
  blob: string,
  file: string,
  progress?: ByteProgress,
): Promise<void> {
  const partial = `${blob}.incomplete`;
  let have = (await exists(partial)) ? (await Deno.stat(partial)).size : 0;
  if (have > meta.size) {
    await Deno.remove(partial);
    have = 0;
  }
  let url = meta.location;
  let res: Response;
  for (let hops = 0;; hops++) {
    const extra: Record<string, string> = have > 0 ? { Range: `bytes=${have}-` } : {};
    res = await send(url, { headers: headersFor(url, s, extra) }, file);
    const loc = res.headers.get("Location");
    if (res.status >= 300 && res.status < 400 && loc && hops < 10) {
      await res.body?.cancel();
      url = new URL(loc, url).href;
      continue;
    }
    break;
  }
  if (res.status === 416 && have === meta.size) {
    await res.body?.cancel();
  } else if (!res.ok) {
    await res.body?.cancel();
    throw new HubError(
      `${file}: download failed with HTTP ${res.status} from ${new URL(url).origin}; try again`,
    );
  }
  // A server that ignores Range answers 200 with the whole file: start over.
  if (res.status === 200) have = 0;
  const hash = hasherFor(meta.etag, meta.size);
  if (hash && have > 0) await hashPrefix(partial, hash);
  const out = await Deno.open(partial, {
    write: true,
    create: true,
    append: have > 0,
    truncate: have === 0,
  });
  let done = have;
  try {
    if (res.body && res.status !== 416) {
      for await (const chunk of res.body) {
        let off = 0;
        while (off < chunk.length) off += await out.write(chunk.subarray(off));
        hash?.update(chunk);
        done += chunk.length;
        progress?.(file, done, meta.size);
      }
    }
    await out.sync();
  } catch (e) {
    throw new HubError(
      `${file}: download interrupted at ${done} of ${meta.size} bytes (${(e as Error).message}); ` +
        "run the command again to resume",
      { cause: e },
    );
  } finally {
    out.close();
  }
  if (done !== meta.size) {
    throw new HubError(
      `${file}: download ended at ${done} of ${meta.size} bytes; run the command again to resume`,
    );
  }
  if (hash && hash.digest("hex") !== meta.etag) {
    await Deno.remove(partial).catch(() => {});
    throw new HubError(
      `${file}: the downloaded bytes do not match the ETag ${meta.etag}; the partial file was ` +
        "removed, run the command again",
    );
  }
  progress?.(file, meta.size, meta.size);
  await Deno.rename(partial, blob);
}

/** Options of {@linkcode hubDownload}. */
export interface HubDownloadOptions {
  /** Reports bytes as they arrive. */
  progress?: ByteProgress;
}

/**
 * Makes `file` of `repo` at `revision` present in the cache and returns its snapshot path.
 * Offline (or when the Hub cannot be reached and the cache already holds the file), the cache
 * alone answers. Throws {@linkcode HubEntryNotFound} for a file the repository lacks and
 * {@linkcode HubError} otherwise.
 */
export async function hubDownload(
  s: HubSettings,
  repo: string,
  revision: string,
  file: string,
  options: HubDownloadOptions = {},
): Promise<{ path: string; commit: string }> {
  if (!isSafeFileName(file)) {
    throw new HubError(`${repo}: '${file}' is not a file name a model repository may hold`);
  }
  const folder = repoFolder(s.cacheDir, repo);
  const fromCache = async (): Promise<{ path: string; commit: string } | null> => {
    const commit = await cachedCommit(folder, revision);
    if (!commit) return null;
    const path = snapshotPath(folder, commit, file);
    return (await exists(path)) ? { path, commit } : null;
  };
  if (s.offline) {
    const hit = await fromCache();
    if (hit) return hit;
    throw new HubError(
      `${repo}@${revision}: ${file} is not in the cache at ${s.cacheDir} and HF_HUB_OFFLINE=1 ` +
        "forbids downloading; unset HF_HUB_OFFLINE once to fetch it",
    );
  }
  let meta: FileMeta;
  try {
    meta = await headFile(s, repo, revision, file);
  } catch (e) {
    // Like huggingface_hub: without a network, a file already cached is used as it is.
    if (e instanceof HubError && /cannot reach/.test(e.message)) {
      const hit = await fromCache();
      if (hit) return hit;
    }
    throw e;
  }
  const blob = blobPath(folder, meta.etag);
  await Deno.mkdir(`${folder}/blobs`, { recursive: true });
  if (!(await exists(blob)) || (await Deno.stat(blob)).size !== meta.size) {
    await fetchBlob(s, meta, blob, file, options.progress);
  }
  if (!isCommitHash(revision)) await writeRef(folder, revision, meta.commit);
  const path = await linkSnapshot(folder, meta.commit, file, meta.etag);
  return { path, commit: meta.commit };
}
