/**
 * Training runs for the curves view: each child of the runs directory with a `metrics.jsonl`
 * (one JSON object per step, as `bd3 train` writes) and optionally an `eval.json`. Runs are
 * looked up by the names found in the directory only, like models.
 * @module
 */
import { join, sep } from "node:path";
import { linePlot, type Series } from "@blockdiff/eval";
import { MODEL_NAME } from "./models.ts";

/** Largest metrics file read (a long run writes ~200 bytes per step). */
const MAX_METRICS_BYTES = 32 * 1024 * 1024;
/** Points kept per series in a plot (evenly thinned beyond this). */
const MAX_POINTS = 2000;

/** A run as GET /api/runs lists it. */
export interface RunInfo {
  /** The run's directory name. */
  name: string;
  /** Metric lines read. */
  points: number;
  /** `step` of the last metrics line, or null when it has none. */
  lastStep: number | null;
  /** Numeric fields found in the metrics lines (plot choices). */
  metrics: string[];
  /** `eval.json`, when present and a JSON object. */
  eval: Record<string, unknown> | null;
}

/** Parsed metrics of one run. */
export interface RunMetrics {
  /** The run as GET /api/runs lists it. */
  info: RunInfo;
  /** The metrics lines, parsed, in file order. */
  rows: Record<string, unknown>[];
}

async function readBounded(path: string, max: number): Promise<string | null> {
  try {
    const st = await Deno.stat(path);
    if (!st.isFile || st.size > max) return null;
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

const NOT_METRICS = new Set(["step", "epoch", "time"]);

/** Reads one run directory's metrics, or null when it has none. */
export async function readRun(name: string, dir: string): Promise<RunMetrics | null> {
  const text = await readBounded(join(dir, "metrics.jsonl"), MAX_METRICS_BYTES);
  if (text === null) return null;
  const rows: Record<string, unknown>[] = [];
  const keys = new Set<string>();
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    try {
      const o = JSON.parse(line);
      if (typeof o !== "object" || o === null || Array.isArray(o)) continue;
      rows.push(o);
      for (const [k, v] of Object.entries(o)) {
        if (typeof v === "number" && !NOT_METRICS.has(k)) keys.add(k);
      }
    } catch {
      // A torn last line (a run killed mid-write) is skipped, not fatal.
    }
  }
  let evalJson: Record<string, unknown> | null = null;
  const ev = await readBounded(join(dir, "eval.json"), 1024 * 1024);
  if (ev !== null) {
    try {
      const o = JSON.parse(ev);
      if (typeof o === "object" && o !== null && !Array.isArray(o)) evalJson = o;
    } catch {
      // Ignored like a missing file: the view shows what it can.
    }
  }
  const last = rows.at(-1)?.step;
  return {
    info: {
      name,
      points: rows.length,
      lastStep: typeof last === "number" ? last : null,
      metrics: [...keys].sort(),
      eval: evalJson,
    },
    rows,
  };
}

/** Lists the runs under `root` (children with a metrics file, links leading outside skipped). */
export async function listRuns(root: string): Promise<Map<string, string>> {
  const real = await Deno.realPath(root).catch(() => null);
  if (real === null) return new Map(); // no runs directory yet: nothing to plot
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(real)) {
    if (!MODEL_NAME.test(e.name) || !(e.isDirectory || e.isSymlink)) continue;
    const dir = await Deno.realPath(join(real, e.name)).catch(() => null);
    if (dir === null || !dir.startsWith(real + sep)) continue;
    try {
      if ((await Deno.stat(join(dir, "metrics.jsonl"))).isFile) out.set(e.name, dir);
    } catch {
      // No metrics: not a run.
    }
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * An SVG of one or more metrics against step across runs (the curves view and `bd3 plot`
 * draw the same figure). With several metrics each series is named `run · metric`.
 */
export function plotRuns(
  runs: readonly RunMetrics[],
  metric: string | readonly string[],
): string {
  const metrics = typeof metric === "string" ? [metric] : metric;
  const series: Series[] = runs.flatMap((r) =>
    metrics.map((m) => {
      const pts: [number, number][] = [];
      for (const row of r.rows) {
        const x = row.step, y = row[m];
        if (typeof x === "number" && typeof y === "number") pts.push([x, y]);
      }
      const stride = Math.max(1, Math.ceil(pts.length / MAX_POINTS));
      return {
        name: metrics.length > 1 ? `${r.info.name} · ${m}` : r.info.name,
        points: pts.filter((_, i) => i % stride === 0),
      };
    })
  );
  const title = metrics.join(", ");
  return linePlot(series, {
    title,
    xLabel: "step",
    yLabel: metrics.length > 1 ? "value" : title,
    width: 720,
    height: 360,
  });
}
