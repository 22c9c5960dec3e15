/**
 * `bd3 demo`: the main job on the embedded default. It checks the device and runs the kernel
 * self-test (every kernel against its float64 reference on fresh random inputs), printing the
 * relative errors and a matmul speed figure.
 * @module
 */
import { acquireGpu } from "@blockdiff/core/deno";
import { selfTest } from "@blockdiff/kernels";
import { type FlagSpec, formatFlags, parseArgs } from "./args.ts";

const FLAGS: Record<string, FlagSpec> = {
  adapter: {
    type: "string",
    help: "adapter to use: lavapipe, swiftshader or part of a GPU's name",
  },
  seed: { type: "number", help: "seed of the random inputs (default: fresh)" },
  json: { type: "boolean", help: "print JSON instead of text" },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 demo`. */
export const DEMO_HELP =
  `bd3 demo — check the GPU and self-test every kernel against its CPU reference

Usage: bd3 demo [flags]

${formatFlags(FLAGS)}

Examples:
  bd3 demo
  bd3 demo --adapter swiftshader --seed 7`;

/** Runs `bd3 demo`. */
export async function runDemo(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, FLAGS, "demo");
  if (flags.help) {
    console.log(DEMO_HELP);
    return 0;
  }
  using session = await acquireGpu({ adapter: flags.adapter as string | undefined });
  const { gpu } = session;
  const seed = (flags.seed as number | undefined) ?? Math.floor(Math.random() * 2 ** 31);
  if (!flags.json) {
    console.log(`adapter: ${gpu.info.name}${gpu.info.isSoftware ? " (software driver)" : ""}`);
    console.log(`kernel self-test, seed ${seed}:`);
  }
  const results = await selfTest(gpu, seed, (r) => {
    if (!flags.json) {
      const mark = r.ok ? "ok  " : "FAIL";
      console.log(
        `  ${mark} ${r.kernel.padEnd(34)} rel err ${r.relErr.toExponential(2)}  ${r.note ?? ""}`,
      );
    }
  });
  const failed = results.filter((r) => !r.ok).length;
  if (flags.json) console.log(JSON.stringify({ adapter: gpu.info.name, seed, results }, null, 2));
  else {console.log(
      failed
        ? `${failed} kernel(s) FAILED`
        : `all ${results.length} kernels match their references`,
    );}
  return failed ? 1 : 0;
}
