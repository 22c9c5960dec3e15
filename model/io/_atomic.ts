/**
 * Crash-safe file replacement: the bytes go to a temporary file in the target's directory, are
 * fsynced, and the temporary file is renamed over the target (rename is atomic on POSIX file
 * systems), then the directory is fsynced so that the rename itself is durable. A process killed
 * at any moment leaves either the old file or the new one, never a mixture; a failed write (disk
 * full) removes the temporary file and throws {@linkcode IoError}.
 * @module
 */
import { basename, dirname, join } from "node:path";
import { IoError } from "./errors.ts";

/** What {@linkcode writeAtomic} writes through: the parts of `Deno.FsFile` it uses. */
export interface Sink {
  /** Writes some prefix of `p`, returning how many bytes were written. */
  write(p: Uint8Array): Promise<number>;
  /** Flushes data and metadata to the device. */
  sync(): Promise<void>;
  /** Releases the handle. */
  close(): void;
}

/** Options of {@linkcode writeAtomic}. */
export interface AtomicWriteOptions {
  /** Opens the temporary file; tests replace it to inject write failures. */
  openTemp?: (path: string) => Promise<Sink>;
}

/** Marker inside the names of temporary files, so that stale ones can be recognised. */
export const TEMP_MARK = ".tmp-";

/** Name of a fresh temporary file next to `path`. */
export function tempPathFor(path: string): string {
  const rand = crypto.getRandomValues(new Uint32Array(1))[0].toString(16);
  return join(dirname(path), `.${basename(path)}${TEMP_MARK}${Deno.pid}-${rand}`);
}

/** Describes an OS error for a message, calling out a full disk explicitly. */
export function describeOsError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  if (err?.code === "ENOSPC" || /No space left/i.test(err?.message ?? "")) {
    return `disk full (${err.message})`;
  }
  if (err?.code === "EDQUOT") return `disk quota exceeded (${err.message})`;
  return err?.message ?? String(e);
}

/** Writes every byte of `chunk`, looping over short writes. */
async function writeFully(sink: Sink, chunk: Uint8Array): Promise<void> {
  let done = 0;
  while (done < chunk.length) {
    const n = await sink.write(chunk.subarray(done));
    if (n <= 0) throw new Error("write returned no progress");
    done += n;
  }
}

/** Best-effort fsync of a directory (not possible on every platform). */
async function syncDir(dir: string): Promise<void> {
  let d: Deno.FsFile | undefined;
  try {
    d = await Deno.open(dir, { read: true });
    await d.sync();
  } catch {
    // Directories cannot be opened or synced everywhere (Windows); the rename still happened.
  } finally {
    d?.close();
  }
}

/**
 * Atomically replaces `path` with the bytes that `produce` writes through its callback.
 * `produce` may write any number of chunks; nothing is visible at `path` until all of them are
 * on disk. Throws {@linkcode IoError} naming `path` when writing fails; the temporary file is
 * removed then and the previous file at `path`, if any, is unchanged.
 */
export async function writeAtomic(
  path: string,
  produce: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const temp = tempPathFor(path);
  const open = options.openTemp ??
    ((p: string) => Deno.open(p, { write: true, createNew: true, mode: 0o644 }));
  let sink: Sink | undefined;
  try {
    sink = await open(temp);
    const s = sink;
    await produce((chunk) => writeFully(s, chunk));
    await s.sync();
    s.close();
    sink = undefined;
    await Deno.rename(temp, path);
  } catch (e) {
    try {
      sink?.close();
    } catch {
      // already closed
    }
    await Deno.remove(temp).catch(() => {});
    if (e instanceof IoError) throw e;
    throw new IoError(
      `${path}: could not write: ${describeOsError(e)}; nothing was written there ` +
        `(the previous file, if any, is unchanged)`,
      { cause: e },
    );
  }
  await syncDir(dirname(path));
}

/** Atomically replaces `path` with `data` (see {@linkcode writeAtomic}). */
export function writeFileAtomic(
  path: string,
  data: Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  return writeAtomic(path, (write) => write(data), options);
}
