/**
 * Parquet documents via npm `hyparquet@1.33.0`, one row group at a time. Snappy and
 * uncompressed files need nothing else; other codecs (gzip, zstd, brotli, lz4) load
 * `hyparquet-compressors@1.1.2` on demand.
 *
 * Decoding runs in a child process (`parquet_child.ts`) with a deadline per row group (2 s +
 * 1 s per MB compressed): a corrupt page can send hyparquet's run-length decoder into a loop
 * of billions of steps that a worker cannot be stopped in, and a reader must end in rows or a
 * clear error, never hang. Without permission to run subprocesses it decodes in-process.
 * @module
 */
import { DataError } from "./errors.ts";
import { openParquet, type ParquetLayout } from "./parquet_decode.ts";

function corrupt(path: string, e: unknown): DataError {
  return new DataError(`corrupt or unreadable parquet file (${(e as Error).message ?? e}).`, {
    file: path,
    fix: "re-download the file; check that it is a complete .parquet file.",
    cause: e,
  });
}

function missingColumn(path: string, field: string, columns: string[]): DataError {
  return new DataError(`no column "${field}" (columns: ${columns.join(", ")}).`, {
    file: path,
    fix: `set the text field (bd3: --text-field) to one of: ${columns.join(", ")}.`,
  });
}

/** Options of {@link parquetTexts}. */
export interface ParquetOptions {
  /** The text column. Default "text". */
  textField?: string;
}

/** Time allowed for the child to start and read the footer, and per MB of a row group. */
const OPEN_MS = 8000;
const BASE_MS = 2000;
const MS_PER_MB = 1000;

function mayRunChild(): boolean {
  try {
    return Deno.permissions.querySync({ name: "run", command: Deno.execPath() }).state ===
      "granted";
  } catch {
    return false;
  }
}

/** The text column of a parquet file, row by row, reading one row group at a time. */
export async function* parquetTexts(
  path: string,
  options: ParquetOptions = {},
): AsyncGenerator<string> {
  const field = options.textField ?? "text";
  if (!mayRunChild()) {
    yield* inProcess(path, field);
    return;
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-config",
      "--no-lock",
      `--allow-read=${path}`,
      new URL("./parquet_child.ts", import.meta.url).href,
      path,
      field,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = jsonLines(child.stdout);
  let done = false;
  const next = async <T>(ms: number): Promise<T> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
        reject(new Error(`decoding did not finish within ${(ms / 1000).toFixed(1)} s`));
      }, ms);
    });
    try {
      const r = await Promise.race([lines.next(), deadline]);
      if (r.done) {
        const err = new TextDecoder().decode((await child.output().catch(() => null))?.stderr);
        throw new Error(
          `the decoder stopped early${err ? `: ${err.trim().split("\n").pop()}` : ""}`,
        );
      }
      const msg = r.value as { error?: string };
      if (msg.error !== undefined) throw new Error(msg.error);
      return r.value as T;
    } finally {
      clearTimeout(timer);
    }
  };
  try {
    let layout: ParquetLayout;
    try {
      ({ layout } = await next<{ layout: ParquetLayout }>(OPEN_MS));
    } catch (e) {
      throw corrupt(path, e);
    }
    if (!layout.columns.includes(field)) throw missingColumn(path, field, layout.columns);
    for (const group of layout.groups) {
      let texts: string[];
      try {
        ({ texts } = await next<{ texts: string[] }>(BASE_MS + MS_PER_MB * group.bytes / 1e6));
      } catch (e) {
        throw corrupt(path, e);
      }
      yield* texts;
    }
    done = true;
  } finally {
    if (!done) {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
    }
    await child.status;
    await child.stderr.cancel().catch(() => {});
  }
}

/** JSON values, one per line of a byte stream. */
async function* jsonLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<unknown> {
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) yield JSON.parse(line);
    }
  }
}

/** Decoding in this process (no permission to run the child): no protection from a hang. */
async function* inProcess(path: string, field: string): AsyncGenerator<string> {
  let file;
  try {
    file = await openParquet(path);
  } catch (e) {
    throw corrupt(path, e);
  }
  try {
    if (!file.layout.columns.includes(field)) {
      throw missingColumn(path, field, file.layout.columns);
    }
    let rowStart = 0;
    for (const group of file.layout.groups) {
      const rowEnd = rowStart + group.rows;
      let texts: string[];
      try {
        texts = await file.texts(field, rowStart, rowEnd);
      } catch (e) {
        throw corrupt(path, e);
      }
      yield* texts;
      rowStart = rowEnd;
    }
  } finally {
    file.close();
  }
}
