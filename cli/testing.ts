/**
 * Fixtures shared by the CLI's tests.
 * @module
 */

/**
 * The smallest model `bd3 train` builds, in a second or two of steps on a CPU driver: one block
 * of width 32 with 2 heads over the byte tokenizer, context 32. (The kill-and-resume harness in
 * bench/reliability drives the same run; bench cannot import cli, so it spells its own.)
 */
export const MICRO_MODEL_ARGS: readonly string[] = [
  "--size",
  "micro",
  "--hidden",
  "32",
  "--heads",
  "2",
  "--blocks",
  "1",
  "--tokenizer",
  "bytes",
  "--length",
  "32",
];

const MAIN = new URL("./main.ts", import.meta.url).pathname;

/** Where and how a test runs `bd3`. */
export interface Bd3RunOptions {
  /** Working directory of the process. */
  cwd?: string;
  /** Variables added to the test environment. */
  env?: Record<string, string>;
}

/**
 * `bd3 <args>` as a subprocess, output piped. BLOCKDIFF_TUNE=0: tests never tune kernels
 * implicitly (nor touch the user's tuning cache); NO_COLOR keeps messages plain.
 */
export function bd3Command(args: string[], opts: Bd3RunOptions = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: opts.cwd,
    env: { NO_COLOR: "1", BLOCKDIFF_TUNE: "0", ...opts.env },
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs `bd3 <args>` to the end: its exit code and decoded output. */
export async function bd3(
  args: string[],
  opts: Bd3RunOptions = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await bd3Command(args, opts).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}
