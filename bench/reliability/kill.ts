/**
 * Kill-and-resume of `bd3 train`: a tiny training run is SIGKILLed at random moments (some while
 * a checkpoint is being written), resumed with `--resume` each time, and compared step by step
 * with an uninterrupted run of the same seed. Used by `kill_test.ts` and `bench/reliability.ts`.
 * @module
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { latestCheckpointPath, loadLatestCheckpoint } from "@blockdiff/model/deno";
import { TEMP_MARK } from "@blockdiff/model/deno";
import { Rng } from "@blockdiff/core";

const MAIN = fileURLToPath(new URL("../../cli/main.ts", import.meta.url));

/** The tiny run: about 2 s of training after a few seconds of start-up. */
export const TRAIN_ARGS = [
  "--size",
  "micro",
  "--hidden",
  "32",
  "--heads",
  "2",
  "--blocks",
  "1",
  "--tokenizer",
  "bytes",
  "--length",
  "32",
  "--block-size",
  "4",
  "--batch",
  "2",
  "--steps",
  "40",
  "--checkpoint-every",
  "2",
  "--keep",
  "2",
  "--seed",
  "3",
  "--json",
];

/** Steps of {@linkcode TRAIN_ARGS}. */
export const TRAIN_STEPS = 40;

/** One metrics line. */
interface Metric {
  step: number;
  loss: number;
}

/** How one kill went. */
export interface KillRecord {
  /** `steps` (after some steps were printed) or `checkpoint` (while a temp file existed). */
  aim: "steps" | "checkpoint";
  /** Whether a checkpoint temp file was on disk when the process died. */
  duringWrite: boolean;
  /** Last step the killed process printed. */
  lastPrinted: number;
  /** Step of the checkpoint the resume started from (0: none yet, restarted from scratch). */
  resumedFrom: number;
  /** First step the resumed process printed. */
  firstAfter: number;
}

/** What a kill-and-resume run found. */
export interface KillReport {
  seed: number;
  kills: KillRecord[];
  /** Kills whose latest checkpoint loaded and whose resume continued right after it. */
  survived: number;
  /** Steps whose loss differs from the uninterrupted run by more than 1e-6 (or is missing). */
  mismatchedSteps: number[];
  /** Largest |loss difference| over all steps. */
  maxLossDiff: number;
  /** Problems found (checkpoint not loadable, resume not continuing, lost or doubled steps). */
  problems: string[];
  seconds: number;
}

/** A running `bd3 train` whose stdout metric lines are collected as they arrive. */
class TrainProcess {
  readonly child: Deno.ChildProcess;
  readonly metrics: Metric[] = [];
  readonly done: Promise<Deno.CommandStatus>;
  readonly #stderr: Promise<string>;
  #pump: Promise<void>;

  constructor(out: string, resume: boolean) {
    const args = ["run", "-A", MAIN, "train", ...TRAIN_ARGS, "--out", out];
    if (resume) args.push("--resume");
    this.child = new Deno.Command(Deno.execPath(), {
      args,
      stdout: "piped",
      stderr: "piped",
      // Fixed kernel rules: the scenario tests crash safety, and must not tune or write the
      // user's tuning cache from a process it kills.
      env: { NO_COLOR: "1", BLOCKDIFF_TUNE: "0" },
    }).spawn();
    this.#pump = this.#read();
    this.#stderr = new Response(this.child.stderr).text();
    this.done = this.child.status;
  }

  async #read(): Promise<void> {
    let rest = "";
    const dec = new TextDecoder();
    for await (const chunk of this.child.stdout) {
      rest += dec.decode(chunk, { stream: true });
      let nl;
      while ((nl = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, nl);
        rest = rest.slice(nl + 1);
        try {
          const m = JSON.parse(line);
          // Training rows only: validation rows ({step, valLoss}) share the step numbers.
          if (typeof m.step === "number" && typeof m.loss === "number") {
            this.metrics.push({ step: m.step, loss: m.loss });
          }
        } catch {
          // not a metrics line
        }
      }
    }
  }

  /** Waits until the process has printed `n` metric lines (false if it exited first). */
  async waitForLines(n: number): Promise<boolean> {
    let exited = false;
    this.done.then(() => (exited = true));
    while (this.metrics.length < n) {
      if (exited) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
    return true;
  }

  kill(): void {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already exited
    }
  }

  /** Waits for exit; returns the status, the metric lines and stderr. */
  async finish(): Promise<{ status: Deno.CommandStatus; stderr: string }> {
    const status = await this.done;
    await this.#pump;
    return { status, stderr: await this.#stderr };
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

async function hasTemp(dir: string): Promise<boolean> {
  try {
    for await (const e of Deno.readDir(dir)) if (e.name.includes(TEMP_MARK)) return true;
  } catch {
    // the directory does not exist yet
  }
  return false;
}

/** Reads `<out>/metrics.jsonl` as step → loss, reporting doubled and unparsable lines. */
async function readMetrics(out: string, problems: string[]): Promise<Map<number, number>> {
  const byStep = new Map<number, number>();
  const text = await Deno.readTextFile(join(out, "metrics.jsonl"));
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    let m: Metric;
    try {
      m = JSON.parse(line);
    } catch {
      problems.push(`${out}/metrics.jsonl: unparsable line ${JSON.stringify(line.slice(0, 80))}`);
      continue;
    }
    if (typeof m.loss !== "number") continue; // a validation row
    if (byStep.has(m.step)) problems.push(`${out}/metrics.jsonl: step ${m.step} twice`);
    byStep.set(m.step, m.loss);
  }
  return byStep;
}

async function runToEnd(out: string, resume: boolean, problems: string[]): Promise<void> {
  const p = new TrainProcess(out, resume);
  const { status, stderr } = await p.finish();
  if (!status.success) problems.push(`bd3 train exited ${status.code}: ${stderr.slice(-500)}`);
}

/**
 * Runs the scenario: an uninterrupted reference run, then a run killed `kills` times and resumed
 * after each kill, then finished. Odd-numbered kills aim at a checkpoint write (the process is
 * killed as soon as a temporary checkpoint file appears), even ones at a random step.
 */
export async function runKillScenario(
  options: { seed: number; kills: number; dir?: string },
): Promise<KillReport> {
  const t0 = performance.now();
  const r = new Rng(options.seed);
  const root = options.dir ?? await Deno.makeTempDir({ prefix: "blockdiff-kill-" });
  const problems: string[] = [];
  const kills: KillRecord[] = [];
  let survived = 0;
  try {
    // The uninterrupted reference runs alongside the killed one: it shares nothing with it
    // but the token cache, and halves the wall time.
    const ref = join(root, "reference");
    const reference = runToEnd(ref, false, problems);
    const out = join(root, "killed");
    const ckpt = join(out, "checkpoints");
    // Each kill is followed by a resume, and the resumed process is the next one killed; the
    // last one runs to the end.
    let p = new TrainProcess(out, false);
    for (let k = 0; k < options.kills; k++) {
      const aim = k % 2 === 1 ? "checkpoint" : "steps";
      const alive = await p.waitForLines(r.int(1, 6));
      if (alive && aim === "checkpoint") {
        const deadline = performance.now() + 3000;
        while (!(await hasTemp(ckpt)) && performance.now() < deadline) {
          // Tight polling: a checkpoint write lasts only a few milliseconds.
        }
      } else if (alive) {
        await new Promise((res) => setTimeout(res, r.int(0, 40)));
      }
      p.kill();
      await p.finish();
      const duringWrite = await hasTemp(ckpt);
      const lastPrinted = p.metrics.at(-1)?.step ?? 0;
      // The latest checkpoint must always load.
      let resumedFrom = 0;
      let loadable = true;
      try {
        resumedFrom = (await loadLatestCheckpoint(ckpt))?.step ?? 0;
      } catch (e) {
        loadable = false;
        const path = await latestCheckpointPath(ckpt).catch(() => ckpt);
        problems.push(`kill ${k + 1}: latest checkpoint ${path} does not load: ${e}`);
      }
      // Once the run has its record (run.json) it is resumed, from step 0 when killed before
      // the first checkpoint; killed even earlier, it starts over.
      p = new TrainProcess(out, await exists(join(out, "run.json")));
      const printed = await p.waitForLines(1);
      const firstAfter = p.metrics[0]?.step ?? -1;
      const continues = printed && firstAfter === resumedFrom + 1;
      if (!continues) {
        problems.push(
          `kill ${k + 1}: resumed from step ${resumedFrom} but the run continued at ${firstAfter}`,
        );
      }
      if (loadable && continues) survived++;
      kills.push({ aim, duringWrite, lastPrinted, resumedFrom, firstAfter });
    }
    const { status, stderr } = await p.finish();
    if (!status.success) problems.push(`bd3 train exited ${status.code}: ${stderr.slice(-500)}`);

    await reference;
    const want = await readMetrics(ref, problems);
    const got = await readMetrics(out, problems);
    const mismatchedSteps: number[] = [];
    let maxLossDiff = 0;
    for (let s = 1; s <= TRAIN_STEPS; s++) {
      const a = got.get(s);
      const b = want.get(s);
      const d = a === undefined || b === undefined ? Infinity : Math.abs(a - b);
      maxLossDiff = Math.max(maxLossDiff, d);
      if (!(d <= 1e-6)) mismatchedSteps.push(s);
    }
    if (got.size !== TRAIN_STEPS) {
      problems.push(`metrics.jsonl has ${got.size} steps, want ${TRAIN_STEPS}`);
    }
    const final = await loadLatestCheckpoint(ckpt).catch((e) => {
      problems.push(`final checkpoint does not load: ${e}`);
      return null;
    });
    if (final && final.step !== TRAIN_STEPS) {
      problems.push(`final checkpoint is step ${final.step}`);
    }
    return {
      seed: options.seed,
      kills,
      survived,
      mismatchedSteps,
      maxLossDiff,
      problems,
      seconds: Math.round((performance.now() - t0) / 100) / 10,
    };
  } finally {
    if (!options.dir) await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}
