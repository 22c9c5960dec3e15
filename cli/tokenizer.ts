/**
 * `bd3 tokenizer`: trains a byte-level BPE vocabulary on the training split of a corpus and
 * writes it as a Hugging Face `tokenizer.json`, ready for `bd3 train --tokenizer`.
 * @module
 */
import { loadTokenizer, trainByteLevelBpe } from "@blockdiff/data";
import { sourceDocuments } from "@blockdiff/data/deno";
import { writeFileAtomic } from "@blockdiff/model/deno";
import { type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";
import { DATA_FLAGS, dataSource } from "./data_flags.ts";

const FLAGS: Record<string, FlagSpec> = {
  ...DATA_FLAGS,
  vocab: {
    type: "number",
    help: "vocabulary size, counting the 256 byte symbols, <|endoftext|> and [MASK]",
    default: 4096,
    integer: true,
    min: 258,
    max: 1 << 20,
  },
  "min-frequency": {
    type: "number",
    help: "never merge a pair seen fewer times than this",
    default: 2,
    integer: true,
    min: 1,
  },
  out: { type: "string", help: "where to write the tokenizer.json", default: "tokenizer.json" },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 tokenizer`. */
export const TOKENIZER_HELP = `bd3 tokenizer — train a byte-level BPE tokenizer on a corpus

Usage: bd3 tokenizer [flags]

Learns merges from the training split only (the validation and test splits stay unseen) and
writes a Hugging Face tokenizer.json: the 256 byte symbols, the merges, then <|endoftext|>
(BOS/EOS) and [MASK] as the last id. Any text stays encodable.

${formatFlags(FLAGS)}

Examples:
  bd3 tokenizer --vocab 4096 --out runs/brown-bpe.json
  bd3 train --tokenizer runs/brown-bpe.json --block-sizes 4,8,16 --out runs/bpe
  bd3 tokenizer --data corpus.jsonl --text-field text --vocab 8192 --out corpus-bpe.json`;

/** Runs `bd3 tokenizer`. */
export async function runTokenizer(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, FLAGS, "tokenizer");
  if (flags.help) {
    console.log(TOKENIZER_HELP);
    return 0;
  }
  const out = flags.out as string;
  if (!out.endsWith(".json")) {
    throw new UsageError(`bd3 tokenizer: --out must end in .json, got '${out}'`);
  }
  const source = await dataSource(flags.data as string, flags["text-field"] as string);
  const texts: string[] = [];
  let characters = 0;
  for await (const doc of sourceDocuments(source, { split: "train" })) {
    texts.push(doc.text);
    characters += doc.text.length;
  }
  if (!characters) {
    throw new UsageError(`bd3 tokenizer: the training split of ${flags.data} holds no text`);
  }
  const started = performance.now();
  const json = trainByteLevelBpe(texts, {
    vocabSize: flags.vocab as number,
    minFrequency: flags["min-frequency"] as number,
  });
  const seconds = (performance.now() - started) / 1000;
  await writeFileAtomic(out, new TextEncoder().encode(JSON.stringify(json) + "\n"));
  // Read back through the loader every command uses, so what was written is known to load.
  const tokenizer = await loadTokenizer(out);
  let ids = 0;
  for (const t of texts) ids += tokenizer.encode(t).length;
  console.error(
    `wrote ${out}: ${tokenizer.vocabSize} ids (mask ${tokenizer.maskId}), learnt from ` +
      `${texts.length} documents in ${seconds.toFixed(1)} s; ` +
      `${(characters / ids).toFixed(2)} characters per token on them`,
  );
  if (tokenizer.vocabSize < (flags.vocab as number)) {
    console.error(
      `note: the corpus ran out of pairs seen ${flags["min-frequency"]}+ times before ` +
        `${flags.vocab} ids; lower --min-frequency for a larger vocabulary`,
    );
  }
  return 0;
}
