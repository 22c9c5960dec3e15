/**
 * `bd3 tune-schedule`: the data-driven clipped noise schedule (docs/design.md, "Clip search"). For
 * every candidate window [β, ω] it evaluates the NELBO on the same validation batches with t ~ U[β,
 * ω], records each block's mean loss, and picks the window whose per-block losses vary least
 * (summed unbiased variance over batches, the unclipped window competing too). The choice can be
 * written as a config file that `bd3 train --config … --resume` continues the run with.
 * @module
 */
import { join } from "node:path";
import { acquireTunedGpu } from "./gpu.ts";
import { writeFileAtomic } from "@blockdiff/model/deno";
import type { Split } from "@blockdiff/data";
import { loadChunks } from "@blockdiff/data/deno";
import { newGraph } from "@blockdiff/model";
import { objectiveLoss } from "@blockdiff/train";
import { evalBatches, formatTable } from "@blockdiff/eval";
import { clipCandidates, type ClipInterval, ClipSearch } from "@blockdiff/schedules";
import { applyConfigFile, type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";
import { DATA_FLAGS } from "./data_flags.ts";
import { modelArg, readModel, toGpu } from "./model.ts";
import { Progress } from "./progress.ts";

const FLAGS: Record<string, FlagSpec> = {
  model: {
    type: "string",
    help: "model directory or training run (its EMA weights; default: models/bundled)",
  },
  ...DATA_FLAGS,
  split: { type: "string", help: "validation or test split of --data", default: "validation" },
  batches: {
    type: "number",
    help: "validation batches per window",
    default: 10,
    integer: true,
    min: 1,
  },
  batch: { type: "number", help: "sequences per batch", default: 8, integer: true, min: 1 },
  widths: { type: "string", help: "window widths ω − β", default: "0.5,0.6,0.7,0.8,0.9" },
  delta: {
    type: "number",
    help: "step δ between window starts",
    default: 0.05,
    min: 0,
    minExclusive: true,
    max: 1,
    maxExclusive: true,
  },
  seed: {
    type: "number",
    help: "seed of the (t, mask) draws",
    default: 0,
    integer: true,
    min: 0,
    max: 0xffffffff,
  },
  "write-to": {
    type: "string",
    help: "store the chosen window as <dir>/clip.json (a run directory: for train --resume)",
  },
  json: { type: "boolean", help: "print the table and choice as JSON" },
  config: { type: "string", help: "JSON file with any of these flags (flags given here win)" },
  adapter: { type: "string", help: "adapter: lavapipe, swiftshader or part of a GPU's name" },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 tune-schedule`. */
export const TUNE_HELP =
  `bd3 tune-schedule — pick the clipped noise window [β, ω] with the lowest NELBO variance

Usage: bd3 tune-schedule [--model <dir>] [flags]

${formatFlags(FLAGS)}

Every window sees the same batches; the unclipped window (0.001, 1) competes too. With a run
directory, --write-to saves its training flags plus the chosen --clip, so
'bd3 train --config <run>/clip.json --resume --steps N' continues the run with the window.

Examples:
  bd3 tune-schedule --model runs/micro
  bd3 tune-schedule --model runs/micro --widths 0.5,0.6 --batches 20 --write-to runs/micro
  bd3 train --config runs/micro/clip.json --resume --steps 2000`;

/** `0.5,0.6` → widths in (0, 1]. */
function parseWidths(text: string): number[] {
  const ws = text.split(",").map((s) => Number(s.trim()));
  if (!ws.length || ws.some((w) => !(w > 0 && w <= 1))) {
    throw new UsageError(`bd3 tune-schedule: --widths takes numbers in (0, 1] like 0.5,0.6`);
  }
  return ws;
}

/** Rounds a window bound for display and config files (f32-derived values carry noise). */
function r(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

/** `β,ω` as `--clip` takes it. */
function clipText(i: ClipInterval): string {
  return `${r(i.min)},${r(i.max)}`;
}

/** Runs `bd3 tune-schedule`. */
export async function runTuneSchedule(argv: string[]): Promise<number> {
  const parsed = parseArgs(argv, FLAGS, "tune-schedule");
  if (parsed.flags.help) {
    console.log(TUNE_HELP);
    return 0;
  }
  if (parsed.flags.config) {
    await applyConfigFile(parsed, FLAGS, parsed.flags.config as string, "tune-schedule");
  }
  const f = parsed.flags;
  const err = (m: string) => new UsageError(`bd3 tune-schedule: ${m}`);
  const split = f.split as Split;
  if (split !== "test" && split !== "validation") {
    throw err(`--split must be validation or test, got '${split}'`);
  }
  for (const k of ["batches", "batch"]) {
    const v = f[k] as number;
    if (!Number.isInteger(v) || v < 1) throw err(`--${k} must be a positive integer, got ${v}`);
  }
  const delta = f.delta as number;
  if (!(delta > 0 && delta < 1)) throw err(`--delta must be in (0, 1), got ${delta}`);
  const widths = parseWidths(f.widths as string);
  const seed = f.seed as number;
  if (!Number.isInteger(seed) || seed < 0) throw err(`--seed must be an integer ≥ 0, got ${seed}`);

  const host = await readModel(await modelArg(f.model, "tune-schedule"));
  const { config } = host.dir;
  if (config.algo === "ar") throw err(`the noise schedule is for diffusion models; this is AR`);
  // With one token per block a clipped window is meaningless: the reference compares the
  // unclipped window with t = 1 only.
  const candidates = config.algo === "bd3lm" && config.blockSize === 1
    ? [{ min: 1e-3, max: 1 }, { min: 1, max: 1 }]
    : clipCandidates(widths, delta);
  const batches = f.batches as number, batch = f.batch as number;
  const quiet = Boolean(f.json);
  const data = f.data as string;
  if (!quiet) console.error(`tokenizing ${data === "brown" ? "the Brown corpus" : data}…`);
  const chunks = await loadChunks(
    data === "brown"
      ? { kind: "brown" }
      : { kind: "file", path: data, textField: f["text-field"] as string },
    { tokenizer: host.tokenizer, length: config.length, split },
  );
  if (chunks.count === 0) {
    throw err(`the ${split} split of ${data} has no full ${config.length}-token chunk`);
  }
  const list = [...evalBatches(chunks, batch)].slice(0, batches);

  using session = await acquireTunedGpu(f.adapter as string | undefined);
  using loaded = toGpu(session.gpu, host);
  const search = new ClipSearch(candidates, list.length);
  if (!quiet) {
    console.error(
      `${candidates.length} windows × ${list.length} batches of ${batch} on ${session.gpu.info.name}`,
    );
  }
  const progress = new Progress("clip search", candidates.length * list.length, { quiet });
  const L = config.length;
  let done = 0;
  for (let n = 0; n < list.length; n++) {
    const b = list[n];
    for (let w = 0; w < candidates.length; w++) {
      using g = newGraph(session.gpu, { grad: false });
      const res = objectiveLoss(g, loaded.model, b, {
        maskId: host.tokenizer.maskId,
        seed,
        step: n,
        eval: true,
        interval: candidates[w],
      });
      // The reference's nlls: per-token loss × its weight (1/t), before the mean over tokens;
      // our weights also carry the 1/N of the mean, undone by × tokens. BOS has weight 0.
      const per = await res.perToken.readFloat();
      const starts = res.blockStarts, K = starts.length;
      const blockMeans = new Float64Array(b.batch * K);
      for (let row = 0; row < b.batch; row++) {
        for (let j = 0; j < K; j++) {
          const s = starts[j], e = j + 1 < K ? starts[j + 1] : L;
          let sum = 0;
          for (let i = s; i < e; i++) {
            const k = row * L + i;
            sum += per[k] * res.weights[k] * res.tokens;
          }
          blockMeans[row * K + j] = sum / (e - s);
        }
      }
      search.record(w, blockMeans);
      progress.update(++done, `window ${clipText(candidates[w])}`);
    }
  }
  progress.end();

  const table = search.table();
  const best = search.best();
  const unclipped = table[0];
  let written: string | null = null;
  if (f["write-to"]) written = await writeClip(f["write-to"] as string, best.interval);
  if (quiet) {
    console.log(JSON.stringify(
      {
        model: host.dir.dir,
        blockSize: config.blockSize,
        batches: list.length,
        batch,
        best: { ...best, clip: clipText(best.interval) },
        table: table.map((t) => ({ ...t, clip: clipText(t.interval) })),
        written,
      },
      null,
      2,
    ));
    return 0;
  }
  console.log(formatTable(
    table.map((t) => ({
      window: `${t.interval === best.interval ? "* " : "  "}${clipText(t.interval)}`,
      meanVariance: t.meanVariance,
      meanLoss: t.meanLoss,
      batches: t.batches,
    })),
    [
      { key: "window", label: "  window β,ω" },
      { key: "meanVariance", label: "mean variance", digits: 4 },
      { key: "meanLoss", label: "mean loss", digits: 4 },
      "batches",
    ],
  ));
  console.log(
    `\nbest window: --clip ${clipText(best.interval)} (mean variance ` +
      `${best.meanVariance.toFixed(4)}; unclipped ${unclipped.meanVariance.toFixed(4)})`,
  );
  if (written) {
    console.log(`wrote ${written}; continue training with it:`);
    console.log(`  bd3 train --config ${written} --resume --steps <total steps>`);
  } else {
    console.log(`use it with: bd3 train --clip ${clipText(best.interval)} [--resample] …`);
  }
  return 0;
}

/**
 * Writes `<dir>/clip.json`. In a run directory it holds the run's training flags with the new
 * clip, so `bd3 train --config <dir>/clip.json --resume` continues that very run (a bare
 * `--resume` would fall back to default sizes); elsewhere just `{"clip": "β,ω"}`.
 */
async function writeClip(dir: string, interval: ClipInterval): Promise<string> {
  let settings: Record<string, unknown> = {};
  try {
    const run = JSON.parse(await Deno.readTextFile(join(dir, "run.json")));
    for (const [k, v] of Object.entries(run.flags ?? {})) {
      // Display, machine and mode flags are the caller's; config may not nest.
      if (["help", "config", "resume", "json", "adapter"].includes(k)) continue;
      if (v !== undefined && v !== null) settings[k] = v;
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new UsageError(
        `bd3 tune-schedule: ${join(dir, "run.json")}: ${(e as Error).message}`,
      );
    }
    settings = {};
  }
  settings.clip = clipText(interval);
  const path = join(dir, "clip.json");
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(`bd3 tune-schedule: cannot create ${dir}: ${(e as Error).message}`);
  }
  await writeFileAtomic(path, new TextEncoder().encode(JSON.stringify(settings, null, 2) + "\n"));
  return path;
}
