/**
 * Stop strings: a choice's text ends just before the first stop string in it. A stream holds
 * back the tail that could still grow into a stop string, so it never sends text it would have
 * to take back.
 * @module
 */

/** `text` cut before the earliest stop string, and whether one was found. */
export function cutAtStop(
  text: string,
  stops: readonly string[],
): { text: string; stopped: boolean } {
  let at = -1;
  for (const s of stops) {
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at < 0 ? { text, stopped: false } : { text: text.slice(0, at), stopped: true };
}

/** One streamed choice: turns its growing text into the deltas safe to send. */
export class StopStream {
  readonly #stops: readonly string[];
  #sent = "";
  #stopped = false;

  /** A choice cut at `stops`. */
  constructor(stops: readonly string[]) {
    this.#stops = stops;
  }

  /** Whether a stop string ended the text (nothing more is sent). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** The text sent so far. */
  get sent(): string {
    return this.#sent;
  }

  /**
   * The new text to send given the whole `text` so far; `final` when it will not grow again.
   * Text that no longer extends what was sent (a later stop rule cut it shorter) sends nothing.
   */
  push(text: string, final: boolean): string {
    if (this.#stopped) return "";
    const cut = cutAtStop(text, this.#stops);
    this.#stopped = cut.stopped;
    let upTo = cut.text.length;
    if (!cut.stopped && !final) {
      upTo -= this.#partialStop(cut.text);
      // A character still being decoded (split UTF-8) shows as U+FFFD: wait for the rest.
      while (upTo > 0 && cut.text[upTo - 1] === "\uFFFD") upTo--;
    }
    if (upTo <= this.#sent.length || !cut.text.startsWith(this.#sent)) return "";
    const delta = cut.text.slice(this.#sent.length, upTo);
    this.#sent += delta;
    return delta;
  }

  /** Length of the longest end of `text` that begins a stop string. */
  #partialStop(text: string): number {
    let longest = 0;
    for (const stop of this.#stops) {
      for (let k = Math.min(stop.length - 1, text.length); k > longest; k--) {
        if (text.endsWith(stop.slice(0, k))) {
          longest = k;
          break;
        }
      }
    }
    return longest;
  }
}
