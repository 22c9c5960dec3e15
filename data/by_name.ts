/**
 * Tokenizers by the names the CLI, run directories and model directories use: `gpt2`, `bert`
 * (bert-base-uncased), `bytes`, or the path of a Hugging Face `tokenizer.json`.
 * @module
 */
import type { Tokenizer } from "./tokenizer.ts";
import { ByteTokenizer } from "./byte_tokenizer.ts";
import { loadGpt2Tokenizer } from "./gpt2.ts";
import { loadBertTokenizer } from "./bert.ts";
import { loadHfTokenizer } from "./hf_tokenizer.ts";
import { DataError } from "./errors.ts";

/** The built-in tokenizer names. */
export const TOKENIZER_NAMES: readonly string[] = ["gpt2", "bert", "bytes"];

/** Loads a tokenizer by name or `tokenizer.json` path. */
export async function loadTokenizer(name: string): Promise<Tokenizer> {
  switch (name) {
    case "gpt2":
      return await loadGpt2Tokenizer();
    case "bert":
    case "bert-base-uncased":
      return await loadBertTokenizer();
    case "bytes":
    case "byte":
      return new ByteTokenizer();
  }
  if (name.endsWith(".json")) return await loadHfTokenizer(name);
  throw new DataError(
    `unknown tokenizer '${name}': use gpt2, bert, bytes or the path of a tokenizer.json`,
  );
}
