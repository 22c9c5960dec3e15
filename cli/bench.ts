/**
 * `bd3 bench`: runs the benchmark suites of bench/ and prints one JSON line per figure.
 * @module
 */
import { runBenchSuites, SUITES } from "@blockdiff/bench";
import { type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";

const FLAGS: Record<string, FlagSpec> = {
  adapter: {
    type: "string",
    help: "adapter to use: lavapipe, swiftshader or part of a GPU's name",
  },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 bench`. */
export const BENCH_HELP = `bd3 bench — measure kernels and print JSON lines

Usage: bd3 bench [suite...] [flags]      suites: ${Object.keys(SUITES).join(", ")} (default: all)

${formatFlags(FLAGS)}

Examples:
  bd3 bench kernels
  bd3 bench matmul --adapter swiftshader`;

/** Runs `bd3 bench`. */
export async function runBench(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS, "bench");
  if (flags.help) {
    console.log(BENCH_HELP);
    return 0;
  }
  for (const p of positionals) {
    if (!(p in SUITES)) {
      throw new UsageError(
        `bd3 bench: unknown suite '${p}'. Suites: ${Object.keys(SUITES).join(", ")}.`,
      );
    }
  }
  await runBenchSuites(positionals, { adapter: flags.adapter as string | undefined });
  return 0;
}
