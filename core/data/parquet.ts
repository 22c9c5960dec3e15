/**
 * Parquet documents via npm `hyparquet@1.33.0`, one row group at a time. Snappy and
 * uncompressed files need nothing else; other codecs (gzip, zstd, brotli, lz4) load
 * `hyparquet-compressors@1.1.2` on demand.
 * @module
 */
import {
  type AsyncBuffer,
  type FileMetaData,
  parquetMetadataAsync,
  parquetReadObjects,
} from "hyparquet";
import { DataError } from "./errors.ts";
import { openForRead } from "./stream.ts";

/** An `AsyncBuffer` over a local file, reading only the requested byte ranges. */
async function fileBuffer(path: string): Promise<{ buffer: AsyncBuffer; file: Deno.FsFile }> {
  const file = await openForRead(path);
  const { size } = await file.stat();
  const buffer: AsyncBuffer = {
    byteLength: size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const stop = Math.min(end ?? size, size);
      const out = new Uint8Array(Math.max(0, stop - start));
      await file.seek(start, Deno.SeekMode.Start);
      let off = 0;
      while (off < out.length) {
        const n = await file.read(out.subarray(off));
        if (n === null) break;
        off += n;
      }
      return out.buffer;
    },
  };
  return { buffer, file };
}

function corrupt(path: string, e: unknown): DataError {
  return new DataError(`corrupt or unreadable parquet file (${(e as Error).message ?? e}).`, {
    file: path,
    fix: "re-download the file; check that it is a complete .parquet file.",
    cause: e,
  });
}

/** Options of {@link parquetTexts}. */
export interface ParquetOptions {
  /** The text column. Default "text". */
  textField?: string;
}

/** The text column of a parquet file, row by row, reading one row group at a time. */
export async function* parquetTexts(
  path: string,
  options: ParquetOptions = {},
): AsyncGenerator<string> {
  const field = options.textField ?? "text";
  const { buffer, file } = await fileBuffer(path);
  try {
    let meta: FileMetaData;
    try {
      meta = await parquetMetadataAsync(buffer);
    } catch (e) {
      throw corrupt(path, e);
    }
    const columns = meta.schema.slice(1).map((s) => s.name);
    if (!columns.includes(field)) {
      throw new DataError(`no column "${field}" (columns: ${columns.join(", ")}).`, {
        file: path,
        fix: `pass textField naming one of: ${columns.join(", ")}.`,
      });
    }
    const codecs = new Set(
      meta.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec ?? "UNCOMPRESSED")),
    );
    const plain = [...codecs].every((c) => c === "UNCOMPRESSED" || c === "SNAPPY");
    const compressors = plain ? undefined : (await import("hyparquet-compressors")).compressors;
    let rowStart = 0;
    for (const group of meta.row_groups) {
      const rowEnd = rowStart + Number(group.num_rows);
      let rows: Record<string, unknown>[];
      try {
        rows = await parquetReadObjects({
          file: buffer,
          metadata: meta,
          columns: [field],
          rowStart,
          rowEnd,
          compressors,
        });
      } catch (e) {
        throw corrupt(path, e);
      }
      for (const row of rows) {
        const v = row[field];
        if (v === null || v === undefined) continue;
        yield typeof v === "string" ? v : new TextDecoder().decode(v as Uint8Array);
      }
      rowStart = rowEnd;
    }
  } finally {
    file.close();
  }
}
