/**
 * `bd3 info`: which adapter blockdiff runs on, its driver, limits and features.
 * @module
 */
import { acquireGpu, findSoftwareIcds, listAdapters } from "@blockdiff/core/deno";
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
export const INFO_HELP = `bd3 info — show the GPU adapter blockdiff uses, its limits and features

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
  if (report.adapters) {
    console.log("adapters Dawn can see");
    for (const a of report.adapters) console.log(`  ${a}`);
  }
  return 0;
}
