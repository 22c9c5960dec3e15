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
