/**
 * Child process of `parquet.ts`: decodes one parquet file's text column and writes JSON lines
 * to stdout: `{"layout": …}` first, then `{"texts": [...]}` per row group, or `{"error": …}`.
 * It runs apart because a corrupt page can send hyparquet's run-length decoder into a loop of
 * billions of steps that neither yields nor stops when a worker is terminated; a process can
 * be killed. Arguments: the file and the column.
 * @module
 */
import { openParquet } from "./parquet_decode.ts";

const [path, field] = Deno.args;
const encoder = new TextEncoder();

async function emit(line: unknown): Promise<void> {
  const bytes = encoder.encode(JSON.stringify(line) + "\n");
  for (let off = 0; off < bytes.length;) off += await Deno.stdout.write(bytes.subarray(off));
}

try {
  const file = await openParquet(path);
  await emit({ layout: file.layout });
  if (file.layout.columns.includes(field)) {
    let rowStart = 0;
    for (const g of file.layout.groups) {
      const rowEnd = rowStart + g.rows;
      await emit({ texts: await file.texts(field, rowStart, rowEnd) });
      rowStart = rowEnd;
    }
  }
  file.close();
} catch (e) {
  await emit({ error: String((e as Error)?.message ?? e) });
}
