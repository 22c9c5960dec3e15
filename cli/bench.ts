/**
 * `bd3 bench`: runs the benchmark suites of bench/ and prints one JSON line per figure.
 * @module
 */
import { type E2eOptions, runBenchSuites, SUITES } from "@blockdiff/bench";
import { type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";

const FLAGS: Record<string, FlagSpec> = {
  adapter: {
    type: "string",
    help: "adapter to use: lavapipe, swiftshader or part of a GPU's name",
  },
  report: { type: "string", help: "also write every figure to this JSON file (atomically)" },
  sizes: { type: "string", help: "e2e: model sizes, comma-separated (micro, tiny, small)" },
  context: {
    type: "number",
    help: "e2e: context length (default 1024)",
    integer: true,
    min: 2,
  },
  batches: { type: "string", help: "e2e: batch sizes, comma-separated (default 1,8)" },
  tokens: {
    type: "number",
    help: "e2e: tokens generated per run with the KV cache",
    integer: true,
    min: 1,
  },
  "uncached-tokens": {
    type: "number",
    help: "e2e: tokens generated per run without it",
    integer: true,
    min: 1,
  },
  cases: { type: "string", help: "e2e: only cases whose label contains one of these (L'=4,AR)" },
  pytorch: { type: "string", help: "e2e: PyTorch peer on cpu, cuda or none (default cpu)" },
  "train-steps": {
    type: "number",
    help: "e2e: training steps timed per algorithm (0: none)",
    integer: true,
    min: 0,
  },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 bench`. */
export const BENCH_HELP = `bd3 bench — measure kernels and print JSON lines

Usage: bd3 bench [suite...] [flags]      suites: ${Object.keys(SUITES).join(", ")} (default: all)

${formatFlags(FLAGS)}

Examples:
  bd3 bench kernels
  bd3 bench matmul --adapter swiftshader
  bd3 bench e2e --sizes tiny,small --report .out/bench-e2e.json
  bd3 bench e2e --cases "L'=4" --batches 1 --pytorch cuda`;

/** Runs `bd3 bench`. */
export async function runBench(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS, "bench", { positionals: "any" });
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
  const list = (name: string) =>
    flags[name] === undefined ? undefined : String(flags[name]).split(",").map((x) => x.trim())
      .filter((x) => x);
  const numbers = (name: string) =>
    list(name)?.map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 1) {
        throw new UsageError(`bd3 bench: --${name} takes positive integers, got '${x}'`);
      }
      return n;
    });
  const sizes = list("sizes");
  for (const s of sizes ?? []) {
    if (!["micro", "tiny", "small"].includes(s)) {
      throw new UsageError(`bd3 bench: --sizes: unknown size '${s}' (micro, tiny, small)`);
    }
  }
  const pytorch = flags.pytorch as string | undefined;
  if (pytorch !== undefined && !["cpu", "cuda", "none"].includes(pytorch)) {
    throw new UsageError(`bd3 bench: --pytorch takes cpu, cuda or none, got '${pytorch}'`);
  }
  const e2e: E2eOptions = {
    sizes: sizes as E2eOptions["sizes"],
    context: flags.context as number | undefined,
    batches: numbers("batches"),
    tokensCached: flags.tokens as number | undefined,
    tokensUncached: flags["uncached-tokens"] as number | undefined,
    cases: list("cases"),
    pytorch: pytorch as E2eOptions["pytorch"],
    trainSteps: flags["train-steps"] as number | undefined,
  };
  await runBenchSuites(positionals, {
    adapter: flags.adapter as string | undefined,
    report: flags.report as string | undefined,
    e2e,
  });
  return 0;
}
