/**
 * The terminal view of `bd3 sample --live`: committed text above, the block being denoised
 * after it with its still-masked positions as ▒, redrawn in place on a TTY as tokens are
 * unmasked. On a pipe only committed text is written, as it is committed, so a log shows the
 * sample growing block by block without escape codes.
 * @module
 */
import type { StepEvent } from "@blockdiff/schedules";
import type { Tokenizer } from "@blockdiff/data";

/** Where the view writes: a writer and whether it is a terminal. */
export interface LiveTarget {
  writeSync(p: Uint8Array): number;
  isTerminal(): boolean;
}

const MASK_GLYPH = "▒";

/** Printable form: tabs become spaces; other control characters (except newline) are dropped. */
function clean(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === "\t") out += " ";
    else if (ch === "\n" || (c >= 0x20 && c !== 0x7f)) out += ch;
  }
  return out;
}

/**
 * Follows one row (row 0) of a sampling run through its {@link StepEvent}s. Call
 * {@link LiveView.onStep} from `generate`'s `onStep`, and {@link LiveView.finish} after it.
 */
export class LiveView {
  readonly #tok: Tokenizer;
  readonly #out: LiveTarget;
  readonly #tty: boolean;
  readonly #enc = new TextEncoder();
  /** Row 0's tokens so far, BOS first (prompt, then committed blocks). */
  readonly #row: number[];
  /** Committed text already written. */
  #printed = "";
  /** Terminal column after the committed text. */
  #col = 0;
  /** Characters of the provisional block currently on screen. */
  #provisional = 0;
  #lastDraw = 0;

  /** `prefix`: BOS and the prompt's token ids, as the sampler lays out row 0. */
  constructor(tokenizer: Tokenizer, prefix: readonly number[], out: LiveTarget = Deno.stdout) {
    this.#tok = tokenizer;
    this.#out = out;
    this.#tty = out.isTerminal();
    this.#row = [...prefix];
    this.#commit();
  }

  #write(s: string): void {
    if (s) this.#out.writeSync(this.#enc.encode(s));
  }

  #columns(): number {
    try {
      return Math.max(Deno.consoleSize().columns, 20);
    } catch {
      return 80;
    }
  }

  /** Writes the newly committed text (a trailing partial UTF-8 character waits for its rest). */
  #commit(): void {
    // The sample ends at its first EOS: what the block holds after it is not part of the text.
    const body = this.#row.slice(1);
    const eos = body.indexOf(this.#tok.eosId);
    const ids = eos >= 0 ? body.slice(0, eos) : body;
    const text = clean(this.#tok.decode(ids)).replace(/\uFFFD+$/, "");
    let common = 0;
    while (common < this.#printed.length && text[common] === this.#printed[common]) common++;
    // Decoding more tokens can only change the last character; what is written stays written.
    const fresh = text.slice(Math.max(common, this.#printed.length));
    this.#erase();
    this.#write(fresh);
    this.#printed = text;
    const cols = this.#columns();
    const lastLine = text.slice(text.lastIndexOf("\n") + 1);
    this.#col = [...lastLine].length % cols;
  }

  /** Removes the provisional block from the screen (TTY only). */
  #erase(): void {
    if (!this.#tty || this.#provisional === 0) return;
    const cols = this.#columns();
    const up = Math.floor((this.#col + this.#provisional - 1) / cols);
    this.#write(`\r${up > 0 ? `\x1b[${up}A` : ""}\x1b[${this.#col + 1}G\x1b[J`);
    this.#provisional = 0;
  }

  /** Draws the current block of row 0 after the committed text (TTY only). */
  #drawBlock(block: Int32Array, start: number, size: number, maskId: number): void {
    const parts: string[] = [];
    let run: number[] = [];
    const flush = () => {
      if (run.length) parts.push(clean(this.#tok.decode(run)).replace(/\n/g, "↵"));
      run = [];
    };
    for (let j = 0; j < size; j++) {
      // Positions before the row's end belong to the prompt tail, already on screen.
      if (start + j < this.#row.length) continue;
      const id = block[j];
      if (id === maskId) {
        flush();
        parts.push(MASK_GLYPH);
      } else run.push(id);
    }
    flush();
    const text = parts.join("");
    this.#erase();
    this.#write(`\x1b[2m${text}\x1b[0m`);
    this.#provisional = [...text].length;
  }

  /** Tokens of row 0 committed so far (BOS and prompt included). */
  get committed(): number {
    return this.#row.length;
  }

  /** Feeds one sampler event (`maskId` marks the positions still to denoise). */
  onStep(e: StepEvent, maskId: number): void {
    const size = e.size;
    if (e.kind === "block") {
      for (let j = 0; j < size; j++) {
        const p = e.blockStart + j;
        if (p >= this.#row.length) this.#row.push(e.block[j]);
      }
      this.#commit();
      return;
    }
    if (!this.#tty) return;
    // Redrawing every inner step of a large batch would cost more than the sampling itself.
    const now = performance.now();
    if (now - this.#lastDraw < 30 && e.masked > 0) return;
    this.#lastDraw = now;
    this.#drawBlock(e.block.subarray(0, size), e.blockStart, size, maskId);
  }

  /** Ends the view: clears any provisional block and ends the line. */
  finish(): void {
    this.#erase();
    this.#write("\n");
  }
}
