/**
 * `bd3 runs`: lists the training runs under a directory (algorithm, size, steps, the last
 * training and validation loss, when it last wrote), from each run's `run.json` and
 * `metrics.jsonl`.
 * @module
 */
import { join } from "node:path";
import { listRuns, readRun } from "@blockdiff/web";
import { type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";

const FLAGS: Record<string, FlagSpec> = {
  dir: { type: "string", help: "directory holding the runs", default: "runs" },
  json: { type: "boolean", help: "print one JSON object per run" },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 runs`. */
export const RUNS_HELP = `bd3 runs — list training runs

Usage: bd3 runs [--dir runs] [--json]

${formatFlags(FLAGS)}

Examples:
  bd3 runs
  bd3 runs --dir experiments --json`;

/** One row of `bd3 runs`. */
export interface RunSummary {
  name: string;
  algo: string | null;
  size: string | null;
  parameters: string | null;
  step: number | null;
  loss: number | null;
  valLoss: number | null;
  updated: string | null;
}

function lastNumber(rows: Record<string, unknown>[], key: string): number | null {
  for (let i = rows.length - 1; i >= 0; i--) {
    const v = rows[i][key];
    if (typeof v === "number") return v;
  }
  return null;
}

async function readRecord(dir: string): Promise<Record<string, unknown> | null> {
  try {
    const st = await Deno.stat(join(dir, "run.json"));
    if (!st.isFile || st.size > 4 << 20) return null;
    const o = JSON.parse(await Deno.readTextFile(join(dir, "run.json")));
    return typeof o === "object" && o !== null ? o : null;
  } catch {
    return null;
  }
}

/** Summarises every run under `root`, sorted by name. */
export async function summariseRuns(root: string): Promise<RunSummary[]> {
  const out: RunSummary[] = [];
  for (const [name, dir] of await listRuns(root)) {
    const run = await readRun(name, dir);
    const record = await readRecord(dir);
    const config = (record?.config ?? {}) as Record<string, unknown>;
    const flags = (record?.flags ?? {}) as Record<string, unknown>;
    const rows = run?.rows ?? [];
    const time = [...rows].reverse().find((r) => typeof r.time === "string")?.time;
    const h = config.hidden, b = config.blocks;
    out.push({
      name,
      algo: typeof config.algo === "string" ? config.algo : null,
      size: typeof flags.size === "string" ? flags.size : null,
      parameters: typeof h === "number" && typeof b === "number" ? `d${h}×${b}` : null,
      step: lastNumber(rows, "step"),
      loss: lastNumber(rows, "loss"),
      valLoss: lastNumber(rows, "valLoss"),
      updated: typeof time === "string" ? time : null,
    });
  }
  return out;
}

/** Runs `bd3 runs`. */
export async function runRuns(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, FLAGS, "runs");
  if (flags.help) {
    console.log(RUNS_HELP);
    return 0;
  }
  const root = flags.dir as string;
  const st = await Deno.stat(root).catch(() => null);
  if (!st?.isDirectory) {
    throw new UsageError(`bd3 runs: no directory ${root}; pass --dir with the runs' parent`);
  }
  const runs = await summariseRuns(root);
  if (flags.json) {
    for (const r of runs) console.log(JSON.stringify(r));
    return 0;
  }
  if (!runs.length) {
    console.log(`no runs in ${root} (a run is a directory with metrics.jsonl)`);
    return 0;
  }
  const fmt = (v: number | null) => (v === null ? "–" : v.toFixed(4));
  const table = [
    ["run", "algo", "size", "width×depth", "step", "loss", "val loss", "updated"],
    ...runs.map((r) => [
      r.name,
      r.algo ?? "–",
      r.size ?? "–",
      r.parameters ?? "–",
      r.step === null ? "–" : String(r.step),
      fmt(r.loss),
      fmt(r.valLoss),
      r.updated?.replace("T", " ").slice(0, 19) ?? "–",
    ]),
  ];
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const row of table) console.log(row.map((v, c) => v.padEnd(widths[c])).join("  ").trimEnd());
  return 0;
}
