/**
 * The flags that choose training or evaluation data, shared by `train`, `eval` and
 * `tune-schedule` so they read the same everywhere.
 * @module
 */
import { DataError } from "@blockdiff/data";
import type { Source } from "@blockdiff/data/deno";
import type { FlagSpec } from "./args.ts";

/** `--data` and `--text-field`. */
export const DATA_FLAGS: Record<string, FlagSpec> = {
  data: {
    type: "string",
    help: "brown (embedded corpus) or a .txt/.jsonl/.jsonl.gz/.parquet file",
    default: "brown",
  },
  "text-field": {
    type: "string",
    help: "field holding the text in JSONL/Parquet records",
    default: "text",
  },
};

/**
 * The source `--data` names (`brown`, or a file with its `--text-field`), checked to be a
 * readable regular file before any tokenizing or GPU work starts.
 */
export async function dataSource(data: string, textField: string): Promise<Source> {
  if (data === "brown") return { kind: "brown" };
  const st = await Deno.stat(data).catch(() => null);
  if (!st?.isFile) {
    throw new DataError(st ? "not a regular file" : "file not found", {
      file: data,
      fix: "pass --data with a .txt, .jsonl(.gz) or .parquet file, or brown",
    });
  }
  return { kind: "file", path: data, textField };
}
