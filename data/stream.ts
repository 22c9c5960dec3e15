/**
 * Streaming file reading: bytes in chunks (gunzipped on the fly for `.gz`), then lines.
 * Nothing reads a whole file into memory.
 * @module
 */
import { Gunzip } from "fflate";
import { DataError } from "./errors.ts";

/** Opens a file for reading, turning "not found" into a {@link DataError}. */
export async function openForRead(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DataError("file not found.", { file: path, fix: "check the path.", cause: e });
    }
    throw new DataError(`cannot open (${(e as Error).message}).`, {
      file: path,
      fix: "check the path and read permission.",
      cause: e,
    });
  }
}

/** The file's bytes in chunks; `.gz` files are decompressed as they stream. */
export async function* readByteChunks(path: string): AsyncGenerator<Uint8Array> {
  const file = await openForRead(path);
  const gz = path.endsWith(".gz");
  const reader = file.readable.getReader();
  try {
    if (!gz) {
      while (true) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    }
    const out: Uint8Array[] = [];
    const gunzip = new Gunzip((chunk) => out.push(chunk));
    const fail = (e: unknown): never => {
      throw new DataError(`corrupt gzip data (${(e as Error).message ?? e}).`, {
        file: path,
        fix: "re-download or re-compress the file (gzip -t checks it).",
        cause: e,
      });
    };
    let sawData = false;
    while (true) {
      const { value, done } = await reader.read();
      try {
        if (done) gunzip.push(new Uint8Array(0), true);
        else {
          sawData ||= value.length > 0;
          gunzip.push(value, false);
        }
      } catch (e) {
        fail(e);
      }
      while (out.length) yield out.shift()!;
      if (done) break;
    }
    if (!sawData) fail(new Error("empty file"));
  } finally {
    reader.releaseLock();
    try {
      file.close();
    } catch {
      // already closed by the stream
    }
  }
}

/** The file's lines (without `\n` / `\r\n`), with 1-based line numbers. */
export async function* readLines(path: string): AsyncGenerator<{ line: string; lineNo: number }> {
  const decoder = new TextDecoder();
  let rest = "";
  let lineNo = 0;
  for await (const chunk of readByteChunks(path)) {
    rest += decoder.decode(chunk, { stream: true });
    let nl: number;
    let start = 0;
    while ((nl = rest.indexOf("\n", start)) >= 0) {
      let line = rest.slice(start, nl);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      yield { line, lineNo: ++lineNo };
      start = nl + 1;
    }
    rest = rest.slice(start);
  }
  rest += decoder.decode();
  if (rest.length) yield { line: rest.endsWith("\r") ? rest.slice(0, -1) : rest, lineNo: ++lineNo };
}
