/**
 * Live progress messages: turns the sampler's step events into what the page shows (committed
 * text, the current block with masked positions, NFE, tokens/s). The server streams these as
 * Server-Sent Events and the in-browser mode builds the very same messages locally.
 * @module
 */
import type { StepEvent } from "@blockdiff/schedules";
import type { Tokenizer } from "@blockdiff/data";
import type { GenerateResult } from "@blockdiff/sampling";

/** How a masked position is drawn. */
export const MASK_GLYPH = "▒";

/** One progress message (SSE event `step` or `block`). */
export interface ProgressMessage {
  /** `step` after an inner sampler step, `block` when a block is finished. */
  kind: "step" | "block";
  /** Position of the current block's first token. */
  blockStart: number;
  /** Current block's size, tokens. */
  size: number;
  /** Inner step within the current block. */
  step: number;
  /** Network calls so far. */
  nfe: number;
  /** Text before the current block (BOS dropped); sent only when it changed. */
  committed?: string;
  /** The current block of row 0, one string per position; null where still masked. */
  tokens: (string | null)[];
  /** Masked tokens left in the current block. */
  masked: number;
  /** Tokens revealed beyond the prompt so far. */
  generated: number;
  /** Generated tokens per second of elapsed time so far. */
  tokensPerSecond: number;
  /** Time since generation started, ms. */
  elapsedMs: number;
}

/** The final message (SSE event `done`, or the JSON answer). */
export interface DoneMessage {
  /** Row 0 as text, prompt and continuation (BOS dropped). */
  text: string;
  /** The generated text after the prompt. */
  completion: string;
  /** Name of the inner sampler used. */
  sampler: string;
  /** Network calls in all. */
  nfe: number;
  /** Tokens generated beyond the prompt. */
  generated: number;
  /** Size of each block generated, in order. */
  blockSizes: number[];
  /** Why a stop rule ended row 0, or null when none did. */
  stopReason: string | null;
  /** Wall time of the generation, s. */
  seconds: number;
  /** Generated tokens per second of wall time. */
  tokensPerSecond: number;
}

/** Follows one generation (row 0) and builds its progress messages. */
export class ProgressTracker {
  readonly #tok: Tokenizer;
  readonly #ids: number[];
  readonly #prefix: number;
  readonly #started = performance.now();
  #committedTo = -1;

  /** `prompt` is the request's prompt text; the row starts with BOS and its tokens. */
  constructor(tokenizer: Tokenizer, prompt: string) {
    this.#tok = tokenizer;
    this.#ids = [tokenizer.bosId, ...tokenizer.encode(prompt)];
    this.#prefix = this.#ids.length;
  }

  /** The message for a sampler event. */
  update(e: StepEvent): ProgressMessage {
    const row = Array.from(e.block.subarray(0, e.size));
    for (let i = 0; i < e.size; i++) {
      if (row[i] !== this.#tok.maskId) this.#ids[e.blockStart + i] = row[i];
    }
    // A finished block is committed: the next view starts after it.
    const committedTo = e.kind === "block" ? e.blockStart + e.size : e.blockStart;
    let committed: string | undefined;
    if (committedTo !== this.#committedTo) {
      this.#committedTo = committedTo;
      committed = this.#tok.decode(this.#ids.slice(1, committedTo));
    }
    let revealed = 0;
    for (let i = this.#prefix; i < this.#ids.length; i++) {
      if (this.#ids[i] !== undefined) revealed++;
    }
    const elapsedMs = performance.now() - this.#started;
    return {
      kind: e.kind,
      blockStart: e.blockStart,
      size: e.size,
      step: e.step,
      nfe: e.nfe,
      committed,
      tokens: e.kind === "block" ? [] : row.map((id, i) =>
        id === this.#tok.maskId
          ? null
          // BOS (position 0) is not part of the text.
          : e.blockStart + i === 0
          ? ""
          : this.#tok.decode([id])
      ),
      masked: e.masked,
      generated: revealed,
      tokensPerSecond: revealed / Math.max(elapsedMs / 1000, 1e-3),
      elapsedMs,
    };
  }
}

/** The final message for a result. */
export function doneMessage(r: GenerateResult): DoneMessage {
  return {
    text: r.texts[0],
    completion: r.completions[0],
    sampler: r.sampler,
    nfe: r.nfe,
    generated: r.lengths[0],
    blockSizes: r.blockSizes,
    stopReason: r.stopReasons[0],
    seconds: r.seconds,
    tokensPerSecond: r.tokensPerSecond,
  };
}
