/**
 * The parquet decoding itself (npm `hyparquet`), shared by the child process that `parquet.ts`
 * runs it in (`parquet_child.ts`) and by its in-process fallback. It imports with full npm
 * specifiers (the versions deno.json pins) because the child runs with `--no-config`, so it
 * resolves the same packages from whichever project imported blockdiff.
 * @module
 */
// deno-lint-ignore no-import-prefix
import * as hyparquet from "npm:hyparquet@1.33.0";

/** What the reader needs to know of a file before reading its row groups. */
export interface ParquetLayout {
  columns: string[];
  /** Rows and compressed bytes of each row group. */
  groups: { rows: number; bytes: number }[];
}

/** An open parquet file: its metadata and a reader of row-group rows. */
export interface ParquetFile {
  layout: ParquetLayout;
  /** The `field` column of rows [rowStart, rowEnd) as text (null cells dropped). */
  texts(field: string, rowStart: number, rowEnd: number): Promise<string[]>;
  close(): void;
}

/** An `AsyncBuffer` over a local file, reading only the requested byte ranges. */
async function fileBuffer(
  path: string,
): Promise<{ buffer: hyparquet.AsyncBuffer; file: Deno.FsFile }> {
  const file = await Deno.open(path, { read: true });
  const { size } = await file.stat();
  const buffer: hyparquet.AsyncBuffer = {
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

/** Opens `path` and reads its metadata (throws hyparquet's error on a corrupt footer). */
export async function openParquet(path: string): Promise<ParquetFile> {
  const { buffer, file } = await fileBuffer(path);
  let meta: hyparquet.FileMetaData;
  try {
    meta = await hyparquet.parquetMetadataAsync(buffer);
  } catch (e) {
    file.close();
    throw e;
  }
  const codecs = new Set(
    meta.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec ?? "UNCOMPRESSED")),
  );
  const plain = [...codecs].every((c) => c === "UNCOMPRESSED" || c === "SNAPPY");
  const compressors = plain
    ? undefined
    // deno-lint-ignore no-import-prefix
    : (await import("npm:hyparquet-compressors@1.1.2")).compressors;
  return {
    layout: {
      columns: meta.schema.slice(1).map((s) => s.name),
      groups: meta.row_groups.map((g) => ({
        rows: Number(g.num_rows),
        bytes: Number(g.total_compressed_size ?? g.total_byte_size ?? 0),
      })),
    },
    async texts(field, rowStart, rowEnd) {
      const rows = await hyparquet.parquetReadObjects({
        file: buffer,
        metadata: meta,
        columns: [field],
        rowStart,
        rowEnd,
        compressors,
      });
      const out: string[] = [];
      for (const row of rows) {
        const v = row[field];
        if (v === null || v === undefined) continue;
        out.push(typeof v === "string" ? v : new TextDecoder().decode(v as Uint8Array));
      }
      return out;
    },
    close: () => file.close(),
  };
}
