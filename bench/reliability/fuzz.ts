/**
 * The fuzz driver: runs a bounded number of mutated-file cases in a worker, each under a time
 * limit, samples the process's resident memory while they run, and tallies how each file kind
 * ended. Used by `fuzz_test.ts` (which asserts no crash and no hang) and `bench/reliability.ts`.
 * @module
 */
import { type CaseResult, FILE_KINDS, type FileKind, type Outcome } from "./fuzz_cases.ts";
import type { ToWorker } from "./fuzz_worker.ts";

/** Options of {@linkcode runFuzz}. */
export interface FuzzOptions {
  /** Number of cases (spread evenly over the file kinds). */
  cases: number;
  /** Master seed; case i uses a seed derived from it, so one seed replays the whole run. */
  seed: number;
  /** Time limit of one case; a case still running then is a hang. Default 5000 ms. */
  timeoutMs?: number;
  /** Only run case numbers in this list (replaying a failure). */
  only?: number[];
}

/** Outcome counts of one file kind. */
export type Tally = Record<Outcome, number>;

/** What a fuzz run found. */
export interface FuzzReport {
  seed: number;
  cases: number;
  /** Outcome counts per file kind. */
  byKind: Record<FileKind, Tally>;
  /** Outcome counts over all kinds. */
  total: Tally;
  /** Every crash and hang, with its case seed and mutation. */
  failures: CaseResult[];
  /** Largest resident-set size seen, minus the size before the run, in MiB. */
  rssGrowthMiB: number;
  /** The cases whose peak resident size rose most above the size before them (MiB). */
  heaviest: { index: number; kind: FileKind; mutation: string; mib: number }[];
  /** Wall time of the run in seconds. */
  seconds: number;
}

/** Cases run by one worker before it is replaced by a fresh one. */
const RECYCLE_EVERY = 50;

/** The seed of case `index` of a run with master seed `seed` (a 32-bit mix of both). */
export function caseSeed(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

function emptyTally(): Tally {
  return { ok: 0, error: 0, crash: 0, hang: 0 };
}

type FromWorker =
  | { type: "ready" }
  | { type: "result"; result: CaseResult };

/** A worker with a promise-based "next message" and its own scratch directory. */
class FuzzWorker {
  readonly #w: Worker;
  #waiter: ((m: FromWorker) => void) | null = null;
  #fail: ((e: unknown) => void) | null = null;

  constructor() {
    this.#w = new Worker(new URL("./fuzz_worker.ts", import.meta.url).href, { type: "module" });
    this.#w.onmessage = (ev: MessageEvent<FromWorker>) => this.#waiter?.(ev.data);
    this.#w.onerror = (ev) => {
      ev.preventDefault();
      this.#fail?.(new Error(`fuzz worker failed: ${ev.message}`));
    };
  }

  /** Sends `msg` and waits for the reply, or resolves null after `ms`. */
  request(msg: ToWorker, ms: number): Promise<FromWorker | null> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        resolve(null);
      }, ms);
      this.#waiter = (m) => {
        clearTimeout(timer);
        this.#waiter = null;
        resolve(m);
      };
      this.#fail = (e) => {
        clearTimeout(timer);
        reject(e);
      };
      this.#w.postMessage(msg);
    });
  }

  terminate(): void {
    this.#w.terminate();
  }
}

async function startWorker(scratch: string): Promise<FuzzWorker> {
  const w = new FuzzWorker();
  const dir = await Deno.makeTempDir({ dir: scratch });
  // Building the bases (and loading the modules) takes a while on a loaded machine.
  const ready = await w.request({ type: "init", scratch: dir }, 120_000);
  if (ready?.type !== "ready") {
    w.terminate();
    throw new Error("fuzz worker did not start within 120 s");
  }
  return w;
}

/**
 * Runs the fuzz cases and returns the tally. Each case runs in a worker; one that does not finish
 * within `timeoutMs` is a hang, and the worker is replaced. Resident memory is sampled every
 * 20 ms while the cases run.
 */
export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const t0 = performance.now();
  const scratch = await Deno.makeTempDir({ prefix: "blockdiff-fuzz-" });
  const byKind = Object.fromEntries(FILE_KINDS.map((k) => [k, emptyTally()])) as Record<
    FileKind,
    Tally
  >;
  const total = emptyTally();
  const failures: CaseResult[] = [];
  let worker = await startWorker(scratch);
  let sinceStart = 0;
  const rss0 = Deno.memoryUsage().rss;
  let rssMax = rss0;
  let caseMax = rss0;
  const heaviest: FuzzReport["heaviest"] = [];
  const sampler = setInterval(() => {
    caseMax = Math.max(caseMax, Deno.memoryUsage().rss);
    rssMax = Math.max(rssMax, caseMax);
  }, 20);
  try {
    const indices = options.only ?? Array.from({ length: options.cases }, (_, i) => i);
    for (const index of indices) {
      if (++sinceStart > RECYCLE_EVERY) {
        // A fresh isolate every so often: V8 keeps the heap it grew for earlier hostile inputs,
        // which would otherwise be counted against later cases.
        worker.terminate();
        worker = await startWorker(scratch);
        sinceStart = 1;
      }
      const seed = caseSeed(options.seed, index);
      const before = Deno.memoryUsage().rss;
      caseMax = before;
      const reply = await worker.request({ type: "case", index, seed }, timeoutMs);
      let result: CaseResult;
      if (reply?.type === "result") {
        result = reply.result;
      } else {
        worker.terminate();
        result = {
          index,
          seed,
          kind: FILE_KINDS[index % FILE_KINDS.length],
          mutation: "(see the case seed)",
          outcome: "hang",
          detail: `no result within ${timeoutMs} ms`,
        };
        worker = await startWorker(scratch);
        sinceStart = 0;
      }
      const mib = Math.round((Math.max(caseMax, Deno.memoryUsage().rss) - before) / 2 ** 20);
      heaviest.push({ index, kind: result.kind, mutation: result.mutation, mib });
      heaviest.sort((a, b) => b.mib - a.mib).splice(3);
      byKind[result.kind][result.outcome]++;
      total[result.outcome]++;
      if (result.outcome === "crash" || result.outcome === "hang") failures.push(result);
    }
  } finally {
    clearInterval(sampler);
    worker.terminate();
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
  rssMax = Math.max(rssMax, Deno.memoryUsage().rss);
  return {
    seed: options.seed,
    cases: options.only?.length ?? options.cases,
    byKind,
    total,
    failures,
    rssGrowthMiB: Math.round((rssMax - rss0) / 2 ** 20),
    heaviest,
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
}
