/**
 * `bd3 info`: which adapter blockdiff runs on, its driver, limits and features, and the
 * matmul kernel tuning cached for it (never tunes).
 * @module
 */
import { acquireGpu, findSoftwareIcds, listAdapters, tuneModeFromEnv } from "@blockdiff/core/deno";
import { readCachedMatmulTuning } from "@blockdiff/kernels/deno";
import { MATMUL_SHAPE_CLASSES } from "@blockdiff/kernels";
import { type FlagSpec, formatFlags, parseArgs } from "./args.ts";

const FLAGS: Record<string, FlagSpec> = {
  adapter: {
    type: "string",
    help: "adapter to use: lavapipe, swiftshader or part of a GPU's name",
  },
  json: { type: "boolean", help: "print JSON instead of text" },
  list: { type: "boolean", help: "also list every adapter Dawn can see" },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 info`. */
export const INFO_HELP = `bd3 info — show the adapter blockdiff uses, its limits, features, tuning

Usage: bd3 info [flags]

${formatFlags(FLAGS)}

Examples:
  bd3 info
  bd3 info --adapter swiftshader --json
  BLOCKDIFF_ADAPTER=lavapipe bd3 info --list`;

const LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
  "minStorageBufferOffsetAlignment",
] as const;

/** Runs `bd3 info`. */
export async function runInfo(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, FLAGS, "info");
  if (flags.help) {
    console.log(INFO_HELP);
    return 0;
  }
  using session = await acquireGpu({ adapter: flags.adapter as string | undefined });
  const { gpu } = session;
  const limits = Object.fromEntries(LIMITS.map((k) => [k, gpu.device.limits[k]]));
  const tuning = await readCachedMatmulTuning(gpu);
  const report = {
    adapter: gpu.info.name,
    vendor: gpu.info.vendor,
    architecture: gpu.info.architecture,
    device: gpu.info.device,
    software: gpu.info.isSoftware,
    driverFile: session.icd,
    subgroupSizes: [gpu.info.subgroupMinSize, gpu.info.subgroupMaxSize],
    features: [...gpu.device.features].sort(),
    limits,
    softwareDrivers: findSoftwareIcds(),
    adapters: flags.list ? await listAdapters() : undefined,
    matmulTuning: { file: tuning.path, mode: tuneModeFromEnv(), table: tuning.table },
  };
  if (flags.json) {
    console.log(JSON.stringify(report, null, 2));
    return 0;
  }
  console.log(`adapter      ${report.adapter}${report.software ? "  (software driver)" : ""}`);
  console.log(`vendor       ${report.vendor} / ${report.architecture} / ${report.device}`);
  if (report.driverFile) console.log(`driver file  ${report.driverFile}`);
  console.log(`subgroups    ${report.subgroupSizes.join("–")}`);
  console.log(`features     ${report.features.join(", ")}`);
  console.log("limits");
  for (const [k, v] of Object.entries(limits)) console.log(`  ${k.padEnd(36)}${v}`);
  printTuning(report.matmulTuning);
  if (report.adapters) {
    console.log("adapters Dawn can see");
    for (const a of report.adapters) console.log(`  ${a}`);
  }
  return 0;
}

/** Prints the cached matmul tuning: the variant per shape class and each candidate's ms. */
function printTuning(
  t: {
    file: string | null;
    mode: string;
    table: Awaited<ReturnType<typeof readCachedMatmulTuning>>["table"];
  },
): void {
  const off = t.mode === "off" ? "; BLOCKDIFF_TUNE=0: not used" : "";
  if (!t.table) {
    console.log(
      `matmul tuning none cached${
        t.file ? ` (${t.file}; measured by the first command that runs a model)` : ""
      }${off}`,
    );
    return;
  }
  console.log(`matmul tuning ${t.file}  (tuned ${t.table.tunedAt}${off})`);
  for (const cls of MATMUL_SHAPE_CLASSES) {
    const c = t.table.classes[cls];
    if (!c) {
      console.log(`  ${cls.padEnd(17)}(fixed rules)`);
      continue;
    }
    const ms = Object.entries(c.ms).map(([v, ms]) => `${v} ${ms.toFixed(2)} ms`).join(", ");
    console.log(`  ${cls.padEnd(17)}${c.variant.padEnd(17)}${ms}`);
  }
}
