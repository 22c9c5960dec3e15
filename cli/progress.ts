/**
 * Progress reporting for long commands: a redrawn bar with ETA on a TTY (colour only there),
 * and on a pipe a plain line every few seconds, so logs stay readable.
 * @module
 */

/** A progress line for `total` units of work. */
export class Progress {
  readonly #total: number;
  readonly #label: string;
  readonly #tty: boolean;
  readonly #start = performance.now();
  #lastPrint = 0;
  #done = 0;
  #finished = false;

  constructor(label: string, total: number, opts: { quiet?: boolean } = {}) {
    this.#label = label;
    this.#total = total;
    this.#tty = !opts.quiet && Deno.stderr.isTerminal();
    if (opts.quiet) this.#lastPrint = Infinity;
  }

  /** `label done/total status  12.3s elapsed`: the line without its ETA. */
  #line(status: string): string {
    return `${this.#label} ${this.#done}/${this.#total} ${status}  ${
      fmtTime(this.elapsed)
    } elapsed`;
  }

  /** Seconds since the start. */
  get elapsed(): number {
    return (performance.now() - this.#start) / 1000;
  }

  /** Reports `done` units finished, with a status text (e.g. "loss 3.21  1.2k tok/s"). */
  update(done: number, status = ""): void {
    this.#done = done;
    const now = performance.now();
    // A total that was only an estimate can be passed: the bar then stays full, and the
    // finished line is printed once, not on every later update.
    const finished = done >= this.#total;
    if (finished && this.#finished) return;
    if (!this.#tty && now - this.#lastPrint < 5000 && !finished) return;
    if (this.#lastPrint === Infinity) return;
    this.#finished = finished;
    this.#lastPrint = now;
    const frac = this.#total > 0 ? Math.min(1, done / this.#total) : 1;
    const eta = frac > 0 ? this.elapsed * (1 - frac) / frac : NaN;
    const line = this.#line(status) + (finished ? "" : `, ETA ${fmtTime(eta)}`);
    if (this.#tty) {
      const width = 24;
      const fill = Math.round(frac * width);
      const bar = `\x1b[36m${"█".repeat(fill)}\x1b[2m${"░".repeat(width - fill)}\x1b[0m`;
      Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${bar} ${line}`));
      if (finished) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
    } else {
      console.error(line);
    }
  }

  /**
   * Ends the report when the work stopped short of `total` (a gzip file's size counts bytes the
   * text does not have): on a TTY it ends the bar's line, on a pipe it prints the last count,
   * so a log always shows where the work ended.
   */
  end(status = ""): void {
    if (this.#finished || this.#done >= this.#total || this.#lastPrint === Infinity) return;
    this.#finished = true;
    if (this.#tty) {
      Deno.stderr.writeSync(new TextEncoder().encode("\n"));
    } else if (this.#done > 0) {
      console.error(this.#line(status));
    }
  }
}

/** `1h02m`, `3m05s`, `12.3s`. */
export function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(1)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
