/**
 * `bd3`: blockdiff's command line. Each subcommand is a thin layer over the library modules.
 * Errors that are the user's to fix print one line (no stack) and exit non-zero.
 * @module
 */
import { BlockdiffError } from "@blockdiff/core";
import { UsageError } from "./args.ts";

const COMMANDS: Record<string, { help: string; run: (argv: string[]) => Promise<number> }> = {
  // Commands load lazily: `bd3 info` should not pay for the web server or the benchmarks.
  info: {
    help: "show the GPU adapter, driver, limits and features",
    run: async (a) => (await import("./info.ts")).runInfo(a),
  },
  demo: {
    help: "sample from the bundled model after a kernel self-test (--self-test: only that)",
    run: async (a) => (await import("./demo.ts")).runDemo(a),
  },
  tokenizer: {
    help: "train a byte-level BPE tokenizer.json on a corpus (for bd3 train --tokenizer)",
    run: async (a) => (await import("./tokenizer.ts")).runTokenizer(a),
  },
  train: {
    help: "train a BD3-LM, MDLM, SEDD or AR model (checkpoints, resume, metrics)",
    run: async (a) => (await import("./train.ts")).runTrain(a),
  },
  convert: {
    help: "export a run to the Hugging Face BD3-LM layout, or import one",
    run: async (a) => (await import("./convert.ts")).runConvert(a),
  },
  sample: {
    help: "generate text (live view, adaptive block sizes, stop rules; NFE and tokens/s)",
    run: async (a) => (await import("./sample.ts")).runSample(a),
  },
  eval: {
    help: "test / zero-shot / generative perplexity, sample statistics, block-size policies",
    run: async (a) => (await import("./eval.ts")).runEval(a),
  },
  runs: {
    help: "list training runs (algorithm, size, steps, last training and validation loss)",
    run: async (a) => (await import("./runs.ts")).runRuns(a),
  },
  plot: {
    help: "draw the loss and validation curves of runs to SVG or PNG",
    run: async (a) => (await import("./plot.ts")).runPlot(a),
  },
  "tune-schedule": {
    help: "data-driven search of the clipped noise interval (lowest NELBO variance)",
    run: async (a) => (await import("./tune_schedule.ts")).runTuneSchedule(a),
  },
  reproduce: {
    help: "rerun a small version of the paper's study and write docs/results.md",
    run: async (a) => (await import("./reproduce.ts")).runReproduce(a),
  },
  bench: {
    help: "run benchmarks and print JSON lines (bd3 bench kernels)",
    run: async (a) => (await import("./bench.ts")).runBench(a),
  },
  serve: {
    help: "serve the web page and JSON API",
    run: async (a) => (await import("./serve.ts")).runServe(a),
  },
};

/** Top-level help. */
export function mainHelp(): string {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length)) + 2;
  return `bd3 — block diffusion language models on WebGPU

Usage: bd3 <command> [flags]     (bd3 <command> --help for its flags and examples)

Commands:
${Object.entries(COMMANDS).map(([k, c]) => `  ${k.padEnd(w)}${c.help}`).join("\n")}

Environment:
  BLOCKDIFF_ADAPTER   adapter to use (lavapipe, swiftshader, or part of a GPU's name)
  BLOCKDIFF_DEBUG=1   print stack traces of unexpected errors`;
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h" || cmd === "help") {
    console.log(mainHelp());
    return cmd ? 0 : 2;
  }
  const command = COMMANDS[cmd];
  if (!command) {
    throw new UsageError(
      `bd3: unknown command '${cmd}'. Commands: ${Object.keys(COMMANDS).join(", ")}.`,
    );
  }
  return await command.run(rest);
}

/** Prints an error the way users should see it and returns the exit code. */
export function reportError(e: unknown): number {
  if (e instanceof BlockdiffError) {
    console.error(`error: ${e.message}`);
    return e.exitCode;
  }
  const err = e as Error;
  console.error(`internal error: ${err?.message ?? String(e)}`);
  if (Deno.env.get("BLOCKDIFF_DEBUG")) console.error(err?.stack);
  else console.error("(set BLOCKDIFF_DEBUG=1 for the stack trace, and please report it)");
  return 70;
}

if (import.meta.main) {
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (e) {
    code = reportError(e);
  }
  Deno.exit(code);
}
