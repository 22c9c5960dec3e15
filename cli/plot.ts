/**
 * `bd3 plot`: the loss and validation curves of one or more runs as SVG (the figure the web
 * page's curves tab draws), or PNG rendered with resvg (WebAssembly) when the output ends in
 * `.png`.
 * @module
 */
import { basename, resolve } from "node:path";
import { createRequire } from "node:module";
import { plotRuns, readRun, type RunMetrics } from "@blockdiff/web";
import { IoError } from "@blockdiff/model/io";
import { writeFileAtomic } from "@blockdiff/model/deno";
import { type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";

const FLAGS: Record<string, FlagSpec> = {
  metric: {
    type: "string",
    help: "metrics to draw, comma-separated (any numeric field of metrics.jsonl)",
    default: "loss,valLoss",
  },
  out: { type: "string", help: "output file: .svg or .png", default: "curves.svg" },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 plot`. */
export const PLOT_HELP = `bd3 plot — training curves of runs as SVG or PNG

Usage: bd3 plot <run dir> [<run dir> …] [--metric loss,valLoss] [--out curves.svg]

${formatFlags(FLAGS)}

Examples:
  bd3 plot runs/micro
  bd3 plot runs/bs4 runs/bs16 --metric valLoss --out val.png`;

/** Font files tried for PNG text (Debian's fonts-dejavu-core first). */
const FONT_PATHS = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
  "/usr/share/fonts/TTF/DejaVuSans.ttf",
  "/Library/Fonts/Arial.ttf",
  "C:\\Windows\\Fonts\\arial.ttf",
];

/** Renders an SVG document to PNG bytes with resvg. */
export async function svgToPng(svg: string): Promise<Uint8Array> {
  let font: Uint8Array | null = null;
  for (const p of FONT_PATHS) {
    font = await Deno.readFile(p).catch(() => null);
    if (font) break;
  }
  if (!font) {
    throw new IoError(
      "no font found to draw the PNG's text: install one (Debian: apt install fonts-dejavu-core) " +
        "or write --out curves.svg",
    );
  }
  const { initWasm, Resvg } = await import("resvg-wasm");
  const wasm = createRequire(import.meta.url).resolve("@resvg/resvg-wasm/index_bg.wasm");
  try {
    await initWasm(await Deno.readFile(wasm));
  } catch (e) {
    // initWasm may be called once per process.
    if (!/already/i.test((e as Error).message)) throw e;
  }
  const image = new Resvg(svg, {
    background: "white",
    font: { fontBuffers: [font], loadSystemFonts: false, defaultFontFamily: "DejaVu Sans" },
  }).render();
  return image.asPng();
}

/** Runs `bd3 plot`. */
export async function runPlot(argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, FLAGS, "plot", { positionals: "any" });
  if (flags.help) {
    console.log(PLOT_HELP);
    return 0;
  }
  if (!positionals.length) {
    throw new UsageError("bd3 plot: name at least one run directory, e.g. bd3 plot runs/micro");
  }
  const out = flags.out as string;
  if (!/\.(svg|png)$/i.test(out)) {
    throw new UsageError(`bd3 plot: --out must end in .svg or .png, got '${out}'`);
  }
  const metrics = String(flags.metric).split(",").map((m) => m.trim()).filter(Boolean);
  if (!metrics.length) throw new UsageError("bd3 plot: --metric names no metric");
  const runs: RunMetrics[] = [];
  for (const dir of positionals) {
    const run = await readRun(basename(resolve(dir)), dir);
    if (!run) {
      throw new UsageError(`bd3 plot: ${dir} has no readable metrics.jsonl: it is not a run`);
    }
    runs.push(run);
  }
  const found = new Set(runs.flatMap((r) => r.info.metrics));
  const missing = metrics.filter((m) => !found.has(m));
  if (missing.length === metrics.length) {
    throw new UsageError(
      `bd3 plot: no run has ${missing.join(", ")}; metrics found: ${[...found].join(", ")}`,
    );
  }
  const svg = plotRuns(runs, metrics);
  const bytes = /\.png$/i.test(out) ? await svgToPng(svg) : new TextEncoder().encode(svg);
  await writeFileAtomic(out, bytes);
  console.error(
    `wrote ${out} (${runs.length} run${runs.length > 1 ? "s" : ""}: ${metrics.join(", ")})`,
  );
  return 0;
}
