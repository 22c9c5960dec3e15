/**
 * A byte-level tokenizer for tiny CPU models: ids 0–255 are UTF-8 bytes, then BOS, EOS, PAD
 * and MASK.
 * @module
 */
import type { DecodeOptions, Tokenizer } from "./tokenizer.ts";

const SPECIAL_NAMES = ["<bos>", "<eos>", "<pad>", "<mask>"];

/**
 * UTF-8 bytes as ids. BOS = 256, EOS = 257, PAD = 258, MASK = 259, vocabSize = 260.
 * Decoding renders specials as `<bos>`, `<eos>`, `<pad>`, `<mask>` (or drops them with
 * `skipSpecial`); invalid UTF-8 becomes U+FFFD.
 */
export class ByteTokenizer implements Tokenizer {
  readonly name = "bytes";
  readonly bosId = 256;
  readonly eosId = 257;
  readonly padId = 258;
  readonly maskId = 259;
  readonly vocabSize = 260;
  #encoder = new TextEncoder();
  #decoder = new TextDecoder();

  /** UTF-8 bytes of `text`. */
  encode(text: string): number[] {
    return Array.from(this.#encoder.encode(text));
  }

  /** Bytes back to text; specials rendered by name unless `skipSpecial`. */
  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    let out = "";
    let run: number[] = [];
    const flush = () => {
      if (run.length) out += this.#decoder.decode(new Uint8Array(run));
      run = [];
    };
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= 0 && id < 256) {
        run.push(id);
        continue;
      }
      flush();
      if (id >= 256 && id < 260) {
        if (!options.skipSpecial) out += SPECIAL_NAMES[id - 256];
      } else {
        throw new RangeError(`ByteTokenizer.decode: id ${id} is outside [0, 260)`);
      }
    }
    flush();
    return out;
  }
}
