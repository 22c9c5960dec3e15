/**
 * `bd3 reproduce` (`deno task reproduce`): a small reproduction of the paper's study on the
 * embedded corpus. The study (`reproduce_study.ts`) trains and measures; its numbers
 * (`reproduce_results.ts`) are saved as results.json and rendered (`reproduce_report.ts`) as
 * docs/results.md with its SVG plots. Every number in the report is computed by this command;
 * the same seed reproduces it.
 * @module
 */
import { join } from "node:path";
import { acquireTunedGpu } from "./gpu.ts";
import { type FlagSpec, formatFlags, parseArgs } from "./args.ts";
import { PROFILES, runStudy } from "./reproduce_study.ts";
import { writeResults } from "./reproduce_results.ts";
import { writeReport } from "./reproduce_report.ts";

const FLAGS: Record<string, FlagSpec> = {
  profile: {
    type: "string",
    help: "study size",
    default: "cpu",
    choices: Object.keys(PROFILES),
  },
  out: {
    type: "string",
    help: "report directory (results.md, results.json and plots)",
    default: "docs",
  },
  seed: { type: "number", help: "seed of everything", default: 1, integer: true, min: 0 },
  adapter: { type: "string", help: "adapter: lavapipe, swiftshader or part of a GPU's name" },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 reproduce`. */
export const REPRODUCE_HELP =
  `bd3 reproduce — rerun a small version of the paper's study and write docs/results.md

Usage: bd3 reproduce [--profile cpu] [--out docs] [--seed 1]

${formatFlags(FLAGS)}

Examples:
  bd3 reproduce                             # the cpu profile (about an hour on 2 cores)
  bd3 reproduce --profile paper-small       # the paper overview's setup (GPU recommended)
  bd3 reproduce --profile quick --out /tmp/study`;

/** Runs `bd3 reproduce`: the study, then its results file and report. */
export async function runReproduce(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, FLAGS, "reproduce");
  if (flags.help) {
    console.log(REPRODUCE_HELP);
    return 0;
  }
  const profile = PROFILES[flags.profile as string];
  const outDir = flags.out as string;
  const startedAt = performance.now();
  using session = await acquireTunedGpu(flags.adapter as string | undefined);
  const results = await runStudy(session.gpu, profile, flags.seed as number, { startedAt });
  await Deno.mkdir(outDir, { recursive: true });
  await writeResults(join(outDir, "results.json"), results);
  const report = await writeReport(outDir, results);
  console.error(
    `wrote ${report} and ${join(outDir, "loss_curves.svg")} in ${results.minutes.toFixed(1)} min`,
  );
  return 0;
}

if (import.meta.main) {
  const { reportError } = await import("./main.ts");
  try {
    Deno.exit(await runReproduce(Deno.args));
  } catch (e) {
    Deno.exit(reportError(e));
  }
}
