/**
 * Reliability figures: how hostile input files ended (per file kind) and how many SIGKILLs a
 * training run survived with nothing lost. Prints one JSON line per figure:
 *
 *   deno run -A bench/reliability.ts        (BLOCKDIFF_FUZZ_CASES, BLOCKDIFF_SEED apply)
 *
 * Each group of figures is one {@linkcode ReliabilitySection}; {@linkcode RELIABILITY_SECTIONS}
 * lists them in order: hostile files, kills of training runs, and the web server under a bounded
 * loopback load (`web/load.ts`).
 * @module
 */
import { type BenchRecord, emit } from "./harness.ts";
import { runFuzz } from "./reliability/fuzz.ts";
import { runKillScenario, TRAIN_STEPS } from "./reliability/kill.ts";
import { acquireGpu, freshSeed } from "@blockdiff/core/deno";
import { runServerLoad } from "@blockdiff/web";

/** Options shared by the sections. */
export interface ReliabilityOptions {
  /** Seed of the mutations and kill timings (printed; replays the run). */
  seed: number;
  /** Mutated-file cases to try. */
  cases: number;
  /** SIGKILLs of the training run. */
  kills: number;
}

/** One group of reliability figures: a name and a function producing its records. */
export interface ReliabilitySection {
  name: string;
  run(options: ReliabilityOptions): Promise<BenchRecord[]>;
}

/** Hostile files: per file kind, how many mutated files loaded, failed cleanly, crashed, hung. */
export async function hostileFileFigures(options: ReliabilityOptions): Promise<BenchRecord[]> {
  const report = await runFuzz({ cases: options.cases, seed: options.seed });
  const ms = report.seconds * 1000;
  const records: BenchRecord[] = Object.entries(report.byKind).map(([kind, t]) => ({
    bench: "reliability.files",
    case: kind,
    ms,
    tried: t.ok + t.error + t.crash + t.hang,
    ...t,
  }));
  records.push({
    bench: "reliability.files",
    case: "all",
    ms,
    seed: report.seed,
    tried: report.cases,
    ...report.total,
    rssGrowthMiB: report.rssGrowthMiB,
    heaviestCaseMiB: report.heaviest[0]?.mib ?? 0,
  });
  return records;
}

/** Kills: SIGKILLs of `bd3 train` survived (checkpoint loads, resume continues, losses equal). */
export async function killFigures(options: ReliabilityOptions): Promise<BenchRecord[]> {
  const report = await runKillScenario({ seed: options.seed, kills: options.kills });
  return [{
    bench: "reliability.kill",
    case: "bd3 train",
    ms: report.seconds * 1000,
    seed: report.seed,
    kills: report.kills.length,
    duringCheckpointWrite: report.kills.filter((k) => k.duringWrite).length,
    survived: report.survived,
    stepsCompared: TRAIN_STEPS,
    stepsLost: report.mismatchedSteps.length,
    maxLossDiff: report.maxLossDiff,
    problems: report.problems.length,
  }];
}

/**
 * Server: waves of concurrent streaming generations on 127.0.0.1 against a queue of 1 running +
 * 2 waiting; requests served, deliberate 503s, failures, first-token latency, and RSS growth
 * over the second half of the rounds (the first half fills pools and caches).
 */
export async function serverFigures(_options: ReliabilityOptions): Promise<BenchRecord[]> {
  using session = await acquireGpu();
  const report = await runServerLoad({
    gpu: session.gpu,
    rounds: 12,
    waves: 3,
    concurrency: 6,
    length: 32,
  });
  return [{
    bench: "reliability.server",
    case: "loopback SSE generate",
    ms: report.seconds * 1000,
    requests: report.requests,
    served: report.served,
    refused503: report.refused503,
    failed: report.failed,
    firstTokenP50Ms: Math.round(report.firstTokenP50Ms * 10) / 10,
    firstTokenP99Ms: Math.round(report.firstTokenP99Ms * 10) / 10,
    rssGrowthMiB: report.rssGrowthMiB,
    rssWarmupMiB: report.rssWarmupMiB,
  }];
}

/** The sections, in the order they run. */
export const RELIABILITY_SECTIONS: ReliabilitySection[] = [
  { name: "files", run: hostileFileFigures },
  { name: "kill", run: killFigures },
  { name: "server", run: serverFigures },
];

/** Runs every section and returns all records (also printed as JSON lines when `print`). */
export async function benchReliability(
  options: Partial<ReliabilityOptions> & { print?: boolean } = {},
): Promise<BenchRecord[]> {
  const full: ReliabilityOptions = {
    seed: options.seed ?? freshSeed(),
    cases: options.cases ?? Number(Deno.env.get("BLOCKDIFF_FUZZ_CASES") ?? 300),
    kills: options.kills ?? 4,
  };
  const all: BenchRecord[] = [];
  for (const section of RELIABILITY_SECTIONS) {
    for (const record of await section.run(full)) {
      if (options.print ?? true) emit(record);
      all.push(record);
    }
  }
  return all;
}

if (import.meta.main) await benchReliability();
