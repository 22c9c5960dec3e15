/**
 * The GPT-2 tokenizer (byte-level BPE, r50k ranks from npm `gpt-tokenizer`) with the
 * reference's special ids (docs/design.md, "Data and tokenizers").
 * @module
 */
import type { DecodeOptions, Tokenizer } from "./tokenizer.ts";

/** GPT-2's `<|endoftext|>` id: BOS and EOS. */
export const GPT2_EOT = 50256;
/** The appended mask row; also the id of the added `[PAD]`. */
export const GPT2_MASK = 50257;

interface R50k {
  encode(text: string, options?: { allowedSpecial?: "all" | Set<string> }): number[];
  decode(ids: Iterable<number>): string;
}

/**
 * GPT-2 as the reference uses it: vocab 50257 plus the mask at 50257 (vocabSize 50258),
 * BOS = EOS = 50256, PAD = 50257 (the added `[PAD]`, same id as the mask). A literal
 * `<|endoftext|>` in the text encodes to 50256, as in Hugging Face's tokenizer. Decoding
 * renders id 50257 as `[MASK]` (dropped with `skipSpecial`, as is 50256).
 */
export class Gpt2Tokenizer implements Tokenizer {
  readonly name = "gpt2";
  readonly vocabSize = 50258;
  readonly maskId: number = GPT2_MASK;
  readonly bosId: number = GPT2_EOT;
  readonly eosId: number = GPT2_EOT;
  readonly padId: number = GPT2_MASK;
  readonly wrapIds = { bos: GPT2_EOT, eos: GPT2_EOT };
  #bpe: R50k;

  /** Use {@link loadGpt2Tokenizer}. */
  constructor(bpe: R50k) {
    this.#bpe = bpe;
  }

  /** Byte-level BPE ids, no special tokens added. */
  encode(text: string): number[] {
    return this.#bpe.encode(text, { allowedSpecial: "all" });
  }

  /** Ids back to text (exact inverse of `encode`, no space clean-up). */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    let out = "";
    let run: number[] = [];
    const flush = () => {
      if (run.length) out += this.#bpe.decode(run);
      run = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === GPT2_MASK) {
        flush();
        if (!options.skipSpecial) out += "[MASK]";
      } else if (id === GPT2_EOT && options.skipSpecial) {
        flush();
      } else if (id >= 0 && id < GPT2_MASK) {
        run.push(id);
      } else {
        throw new RangeError(`Gpt2Tokenizer.decode: id ${id} is outside [0, 50258)`);
      }
    }
    flush();
    return out;
  }
}

let loaded: Promise<Gpt2Tokenizer> | undefined;

/** Loads (once) the GPT-2 tokenizer; the ~1 MB rank table is imported on first use. */
export function loadGpt2Tokenizer(): Promise<Gpt2Tokenizer> {
  loaded ??= import("gpt-tokenizer/encoding/r50k_base").then((m) => new Gpt2Tokenizer(m as R50k));
  return loaded;
}
