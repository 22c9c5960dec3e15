/**
 * A byte progress line for downloads on stderr: bytes, bytes/s and ETA, redrawn on a TTY and
 * printed every few seconds on a pipe.
 * @module
 */

/** Called as bytes arrive: `done` of `total` bytes of `file`. */
export type ByteProgress = (file: string, done: number, total: number) => void;

function fmtBytes(n: number): string {
  const units = ["B", "kB", "MB", "GB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

function fmtEta(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
}

/** A {@linkcode ByteProgress} that draws on stderr. Bytes resumed from disk do not count as speed. */
export function stderrByteProgress(): ByteProgress {
  const tty = Deno.stderr.isTerminal();
  const enc = new TextEncoder();
  let file = "";
  let start = 0;
  let startBytes = 0;
  let last = 0;
  return (name, done, total) => {
    const now = performance.now();
    if (name !== file) {
      file = name;
      start = now;
      startBytes = done;
      last = 0;
    }
    const finished = done >= total;
    if (!finished && now - last < (tty ? 200 : 5000)) return;
    last = now;
    const secs = Math.max(1e-3, (now - start) / 1000);
    const rate = (done - startBytes) / secs;
    const eta = rate > 0 ? (total - done) / rate : NaN;
    const line = `${name} ${fmtBytes(done)}/${fmtBytes(total)} ${fmtBytes(rate)}/s` +
      (finished ? "" : ` ETA ${fmtEta(eta)}`);
    if (tty) Deno.stderr.writeSync(enc.encode(`\r\x1b[2K${line}${finished ? "\n" : ""}`));
    else console.error(line);
  };
}
