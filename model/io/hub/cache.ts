/**
 * huggingface_hub's cache layout, so that caches are shared with Python:
 * `models--org--name/blobs/<etag>` holds the bytes, `snapshots/<commit>/<file>` is a relative
 * symlink to the blob, and `refs/<revision>` holds the commit a branch or tag pointed to.
 * A blob being downloaded is `blobs/<etag>.incomplete`, so it never looks complete.
 * @module
 */
import { dirname, join, relative } from "node:path";
import { tempPathFor, writeFileAtomic } from "../_atomic.ts";

/** The cache folder of a model repository. */
export function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.replaceAll("/", "--")}`);
}

/** Paths of one file of one repository in the cache. */
export function blobPath(folder: string, etag: string): string {
  return join(folder, "blobs", etag);
}

/** Where a snapshot's entry for `file` lives. */
export function snapshotPath(folder: string, commit: string, file: string): string {
  return join(folder, "snapshots", commit, ...file.split("/"));
}

/** True for a full 40-hex commit hash. */
export function isCommitHash(rev: string): boolean {
  return /^[0-9a-f]{40}$/.test(rev);
}

/** The commit `revision` resolves to in the cache, or null when it was never recorded. */
export async function cachedCommit(folder: string, revision: string): Promise<string | null> {
  if (isCommitHash(revision)) return revision;
  try {
    return (await Deno.readTextFile(join(folder, "refs", revision))).trim() || null;
  } catch {
    return null;
  }
}

/** Records that `revision` points at `commit` (atomically). */
export async function writeRef(folder: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const path = join(folder, "refs", revision);
  await Deno.mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, new TextEncoder().encode(commit));
}

/** Points the snapshot entry of `file` at its blob with a relative symlink, replaced atomically. */
export async function linkSnapshot(
  folder: string,
  commit: string,
  file: string,
  etag: string,
): Promise<string> {
  const path = snapshotPath(folder, commit, file);
  await Deno.mkdir(dirname(path), { recursive: true });
  const target = relative(dirname(path), blobPath(folder, etag));
  const temp = tempPathFor(path);
  try {
    await Deno.symlink(target, temp);
    await Deno.rename(temp, path);
  } catch {
    // No symlinks here (Windows without privileges): a copy, as huggingface_hub falls back to.
    await Deno.remove(temp).catch(() => {});
    await Deno.copyFile(blobPath(folder, etag), temp);
    await Deno.rename(temp, path);
  }
  return path;
}

/** True if `path` exists (following symlinks, so a dangling snapshot link counts as absent). */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
