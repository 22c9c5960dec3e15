/**
 * The flags that choose training or evaluation data, shared by `train`, `eval` and
 * `tune-schedule` so they read the same everywhere.
 * @module
 */
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
