import assert from "node:assert/strict";
import { gzipSync } from "fflate";
import { parquetWriteBuffer } from "hyparquet-writer";
import { DataError } from "./errors.ts";
import { readDocuments, sourceKind } from "./sources.ts";
import { readLines } from "./stream.ts";

const enc = new TextEncoder();

async function texts(path: string, options = {}) {
  const out: string[] = [];
  for await (const d of readDocuments(path, options)) out.push(d.text);
  return out;
}

async function rejectsWith(p: Promise<unknown>, re: RegExp) {
  await assert.rejects(p, (e: unknown) => e instanceof DataError && re.test(e.message));
}

Deno.test("local sources", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "blockdiff-sources-" });
  try {
    await t.step(".txt by paragraph and by line, streamed in pieces", async () => {
      const p = `${dir}/a.txt`;
      await Deno.writeTextFile(p, "first para\nstill first\n\n\nsecond\r\n  \nthird");
      assert.deepEqual(await texts(p), ["first para\nstill first", "second", "third"]);
      assert.deepEqual(await texts(p, { txtMode: "line" }), [
        "first para",
        "still first",
        "second",
        "third",
      ]);
      // A file larger than one read chunk keeps lines intact across chunk boundaries.
      const big = `${dir}/big.txt`;
      const lines = Array.from({ length: 20000 }, (_, i) => `line ${i} ${"é".repeat(i % 7)}`);
      await Deno.writeTextFile(big, lines.join("\n") + "\n");
      let n = 0;
      for await (const { line, lineNo } of readLines(big)) {
        assert.equal(line, lines[n]);
        assert.equal(lineNo, ++n);
      }
      assert.equal(n, lines.length);
    });
    await t.step(".jsonl and .jsonl.gz with textField", async () => {
      const rows = [{ text: "hello", label: 1 }, { text: "wörld 😀", label: 2 }, {
        sentence: "x",
        text: "third",
      }];
      const body = rows.map((r) => JSON.stringify(r)).join("\n") + "\n\n";
      await Deno.writeTextFile(`${dir}/d.jsonl`, body);
      await Deno.writeFile(`${dir}/d.jsonl.gz`, gzipSync(enc.encode(body)));
      assert.deepEqual(await texts(`${dir}/d.jsonl`), ["hello", "wörld 😀", "third"]);
      assert.deepEqual(await texts(`${dir}/d.jsonl.gz`), ["hello", "wörld 😀", "third"]);
      await Deno.writeTextFile(`${dir}/s.jsonl`, '{"sentence": "a b"}\n{"sentence": "c"}\n');
      assert.deepEqual(await texts(`${dir}/s.jsonl`, { textField: "sentence" }), ["a b", "c"]);
    });
    await t.step(
      ".parquet (snappy, several row groups; gzip via hyparquet-compressors)",
      async () => {
        const data = Array.from({ length: 250 }, (_, i) => `document ${i} ✓`);
        const buf = parquetWriteBuffer({
          columnData: [
            { name: "id", data: data.map((_, i) => i), type: "INT32" },
            { name: "content", data, type: "STRING" },
          ],
          rowGroupSize: 100,
        });
        await Deno.writeFile(`${dir}/p.parquet`, new Uint8Array(buf));
        assert.deepEqual(await texts(`${dir}/p.parquet`, { textField: "content" }), data);
        const gz = parquetWriteBuffer({
          columnData: [{ name: "text", data: ["a", "b", "c"], type: "STRING" }],
          codec: "GZIP",
          compressors: { GZIP: (b: Uint8Array) => gzipSync(b) },
        });
        await Deno.writeFile(`${dir}/g.parquet`, new Uint8Array(gz));
        assert.deepEqual(await texts(`${dir}/g.parquet`), ["a", "b", "c"]);
        await rejectsWith(
          texts(`${dir}/p.parquet`),
          /p\.parquet: no column "text" \(columns: id, content\).*Fix: set the text field/,
        );
      },
    );
    await t.step("clear errors", async () => {
      await rejectsWith(texts(`${dir}/missing.jsonl`), /missing\.jsonl: file not found/);
      assert.throws(
        () => sourceKind(`${dir}/x.csv`),
        /x\.csv: unknown file extension.*Fix: use \.txt/,
      );
      await Deno.writeTextFile(`${dir}/bad.jsonl`, '{"text": "ok"}\n{"text": broken\n');
      await rejectsWith(texts(`${dir}/bad.jsonl`), /bad\.jsonl: line 2: malformed JSON.*Fix:/);
      await Deno.writeTextFile(`${dir}/nofield.jsonl`, '{"body": "ok"}\n');
      await rejectsWith(
        texts(`${dir}/nofield.jsonl`),
        /nofield\.jsonl: line 1: no field "text" \(has: body\)/,
      );
      await Deno.writeTextFile(`${dir}/num.jsonl`, '{"text": 5}\n');
      await rejectsWith(texts(`${dir}/num.jsonl`), /line 1: field "text" is number/);
      const gz = gzipSync(enc.encode('{"text": "x"}\n'.repeat(100)));
      await Deno.writeFile(`${dir}/cut.jsonl.gz`, gz.subarray(0, gz.length - 30));
      await rejectsWith(texts(`${dir}/cut.jsonl.gz`), /cut\.jsonl\.gz: corrupt gzip/);
      await Deno.writeFile(`${dir}/junk.jsonl.gz`, enc.encode("not gzip at all"));
      await rejectsWith(texts(`${dir}/junk.jsonl.gz`), /junk\.jsonl\.gz: corrupt gzip/);
      await Deno.writeFile(`${dir}/junk.parquet`, enc.encode("PAR1 definitely not parquet"));
      await rejectsWith(
        texts(`${dir}/junk.parquet`),
        /junk\.parquet: corrupt or unreadable parquet/,
      );
    });
    await t.step("split filter by document id", async () => {
      await Deno.writeTextFile(
        `${dir}/many.txt`,
        Array.from({ length: 300 }, (_, i) => `doc ${i}`).join("\n"),
      );
      const all = await texts(`${dir}/many.txt`, { txtMode: "line" });
      const parts = await Promise.all(
        (["train", "validation", "test"] as const).map((split) =>
          texts(`${dir}/many.txt`, { txtMode: "line", split })
        ),
      );
      assert.equal(parts.reduce((a, p) => a + p.length, 0), all.length);
      assert.deepEqual([...parts.flat()].sort(), [...all].sort());
      assert.ok(parts[0].length > 240 && parts[1].length > 3 && parts[2].length > 3);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
