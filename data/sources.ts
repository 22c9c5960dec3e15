/**
 * Local corpora as streams of documents: `.txt` (paragraphs or lines), `.jsonl`,
 * `.jsonl.gz`, `.txt.gz` and `.parquet`, each with a `textField` where it applies. This
 * covers the Hugging Face copies of LM1B, OpenWebText, AG News, LAMBADA, PTB, WikiText and
 * BabyLM.
 * @module
 */
import type { Document } from "./brown.ts";
import { DataError } from "./errors.ts";
import { parquetTexts } from "./parquet.ts";
import { type Split, type SplitFractions, splitOf } from "./splits.ts";
import { readLines } from "./stream.ts";

/** Options of {@link readDocuments}. */
export interface SourceOptions {
  /** JSONL key / parquet column holding the text. Default "text". */
  textField?: string;
  /** `.txt`: one document per blank-line-separated paragraph (default) or per line. */
  txtMode?: "paragraph" | "line";
  /** Applied to each document's text (e.g. a detokenizer from `detokenizers.ts`). */
  transform?: (text: string) => string;
  /** Keep only documents of this split (hash of the document id). */
  split?: Split;
  /** Split fractions. Default 90 / 5 / 5. */
  fractions?: SplitFractions;
}

/** The file kinds understood by {@link readDocuments}. */
export type SourceKind = "txt" | "jsonl" | "parquet";

/** The kind of a path by extension, or a {@link DataError} for an unknown one. */
export function sourceKind(path: string): SourceKind {
  const p = path.toLowerCase();
  if (p.endsWith(".txt") || p.endsWith(".txt.gz")) return "txt";
  if (p.endsWith(".jsonl") || p.endsWith(".jsonl.gz")) return "jsonl";
  if (p.endsWith(".parquet")) return "parquet";
  throw new DataError("unknown file extension.", {
    file: path,
    fix: "use .txt, .txt.gz, .jsonl, .jsonl.gz or .parquet.",
  });
}

async function* txtTexts(path: string, mode: "paragraph" | "line"): AsyncGenerator<string> {
  let para: string[] = [];
  for await (const { line } of readLines(path)) {
    if (mode === "line") {
      if (line.trim()) yield line;
      continue;
    }
    if (line.trim() === "") {
      if (para.length) yield para.join("\n");
      para = [];
    } else {
      para.push(line);
    }
  }
  if (para.length) yield para.join("\n");
}

async function* jsonlTexts(path: string, field: string): AsyncGenerator<string> {
  for await (const { line, lineNo } of readLines(path)) {
    if (!line.trim()) continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new DataError(`line ${lineNo}: malformed JSON (${(e as Error).message}).`, {
        file: path,
        fix: "make every line one complete JSON object.",
        cause: e,
      });
    }
    if (obj === null || typeof obj !== "object" || !(field in obj)) {
      const keys = obj && typeof obj === "object" ? Object.keys(obj).join(", ") : typeof obj;
      throw new DataError(`line ${lineNo}: no field "${field}" (has: ${keys}).`, {
        file: path,
        fix: `set the text field (bd3: --text-field) to the text key (one of: ${keys}).`,
      });
    }
    const v = (obj as Record<string, unknown>)[field];
    if (typeof v !== "string") {
      throw new DataError(`line ${lineNo}: field "${field}" is ${typeof v}, not a string.`, {
        file: path,
        fix: "set the text field (bd3: --text-field) to a string field.",
      });
    }
    yield v;
  }
}

/**
 * The documents of a local file, streamed (never the whole file in memory). Document ids are
 * `<file name>#<index>` (index over all documents of the file), which the split filter hashes.
 */
export async function* readDocuments(
  path: string,
  options: SourceOptions = {},
): AsyncGenerator<Document> {
  const kind = sourceKind(path);
  const field = options.textField ?? "text";
  const texts = kind === "txt"
    ? txtTexts(path, options.txtMode ?? "paragraph")
    : kind === "jsonl"
    ? jsonlTexts(path, field)
    : parquetTexts(path, { textField: field });
  const name = path.split("/").pop()!;
  let i = 0;
  for await (const text of texts) {
    const id = `${name}#${i++}`;
    if (options.split && splitOf(id, options.fractions) !== options.split) continue;
    yield { id, text: options.transform ? options.transform(text) : text };
  }
}
