/**
 * Child process of `parquet.ts`: decodes one parquet file's text column and writes JSON lines
 * to stdout: `{"layout": …}` first, then `{"texts": [...]}` per row group, or `{"error": …}`.
 * It runs apart because a corrupt page can send hyparquet's run-length decoder into a loop of
 * billions of steps that neither yields nor stops when a worker is terminated; a process can
 * be killed. Arguments: the file and the column. Imports use full npm specifiers so it runs
 * with `--no-config` from any project.
 * @module
 */
// Full npm specifiers (the versions deno.json pins): the child runs with --no-config, so it
// resolves the same packages from whichever project imported blockdiff.
// deno-lint-ignore no-import-prefix
import * as hyparquet from "npm:hyparquet@1.33.0";

const [path, field] = Deno.args;
const encoder = new TextEncoder();

async function emit(line: unknown): Promise<void> {
  const bytes = encoder.encode(JSON.stringify(line) + "\n");
  for (let off = 0; off < bytes.length;) off += await Deno.stdout.write(bytes.subarray(off));
}

try {
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
  const meta: hyparquet.FileMetaData = await hyparquet.parquetMetadataAsync(buffer);
  const groups = meta.row_groups.map((g) => ({
    rows: Number(g.num_rows),
    bytes: Number(g.total_compressed_size ?? g.total_byte_size ?? 0),
  }));
  const columns = meta.schema.slice(1).map((s) => s.name);
  await emit({ layout: { columns, groups } });
  if (columns.includes(field)) {
    const codecs = new Set(
      meta.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec ?? "UNCOMPRESSED")),
    );
    const plain = [...codecs].every((c) => c === "UNCOMPRESSED" || c === "SNAPPY");
    const compressors = plain
      ? undefined
      // deno-lint-ignore no-import-prefix
      : (await import("npm:hyparquet-compressors@1.1.2")).compressors;
    let rowStart = 0;
    for (const g of groups) {
      const rowEnd = rowStart + g.rows;
      const rows = await hyparquet.parquetReadObjects({
        file: buffer,
        metadata: meta,
        columns: [field],
        rowStart,
        rowEnd,
        compressors,
      });
      const texts: string[] = [];
      for (const row of rows) {
        const v = row[field];
        if (v === null || v === undefined) continue;
        texts.push(typeof v === "string" ? v : new TextDecoder().decode(v as Uint8Array));
      }
      await emit({ texts });
      rowStart = rowEnd;
    }
  }
  file.close();
} catch (e) {
  await emit({ error: String((e as Error)?.message ?? e) });
}
