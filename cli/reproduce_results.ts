/**
 * What `bd3 reproduce` measures, as plain data: the study (`reproduce_study.ts`) fills a
 * `StudyResults`, the renderer (`reproduce_report.ts`) turns it into docs/results.md, and
 * `results.json` beside the report keeps the numbers so the report can be redrawn or
 * compared without rerunning the study.
 * @module
 */
import { IoError } from "@blockdiff/model/io";
import type { Algo } from "@blockdiff/model/io";
import { writeFileAtomic } from "@blockdiff/model/deno";

/** Version of the `results.json` layout; `readResults` refuses any other. */
export const RESULTS_FORMAT = 1;

/** A study profile: what is trained and how much. */
export interface Profile {
  name: string;
  tokenizer: string;
  size: "micro" | "tiny";
  /** Backbone overrides applied to the size (the CPU profile scales the model down). */
  model: Partial<Record<"hidden" | "heads" | "blocks" | "condDim", number>>;
  length: number;
  trainSamples: number;
  evalSamples: number;
  steps: number;
  batch: number;
  lr: number;
  warmup: number;
  /** Samples drawn per model for the length / coherence statistics. */
  genSamples: number;
  /** Tokens per generated sample (longer than the context, to show variable length). */
  genLength: number;
  /** Batches of evaluation used per clip window for the variance study. */
  clipBatches: number;
}

/** The backbone's shape, as the report describes it. */
export interface ModelShape {
  hidden: number;
  blocks: number;
  heads: number;
  condDim: number;
}

/** One trained model of the perplexity table. */
export interface RunResult {
  label: string;
  algo: Algo;
  blockSize: number;
  /** (step, training loss). */
  curve: [number, number][];
  /** (step, validation PPL) during training. */
  valCurve: [number, number][];
  ppl: number;
  /** Whether `ppl` is a NELBO bound (diffusion) rather than exact (AR). */
  bound: boolean;
  trainSeconds: number;
  tokensPerSecond: number;
}

/** One row of the clipped-schedule study. */
export interface ClipResult {
  blockSize: number;
  /** The training window's name, e.g. "U[0.3, 0.8]". */
  window: string;
  /** Mean over the evaluated batches of the per-block NELBO estimate variance. */
  variance: number;
  /** Unclipped test PPL bound of the model trained with that window. */
  ppl: number;
}

/** Generation statistics of one model. */
export interface GenerationResult {
  label: string;
  lengthMedian: number;
  lengthMax: number;
  /** Generative perplexity under the study's AR model. */
  genPpl: number;
  entropy: number;
  nfe: number;
  tokensPerSecond: number;
}

/** The bundled model (models/bundled) evaluated on the study's held-out split. */
export interface BundledResult extends ModelShape {
  algo: string;
  length: number;
  blockSize: number;
  tokenizer: string;
  /** Training steps its metadata records ("?" when it records none). */
  steps: string;
  testChunks: number;
  ppl: number;
  nll: number;
  bound: boolean;
}

/** Everything the report shows. */
export interface StudyResults {
  format: typeof RESULTS_FORMAT;
  profile: Profile;
  seed: number;
  adapter: { name: string; isSoftware: boolean };
  /** Wall-clock minutes from acquiring the GPU to the end of the study. */
  minutes: number;
  data: { trainChunks: number; testChunks: number };
  tokenizer: { name: string; vocabSize: number };
  /** The study's backbone (the same for every run). */
  model: ModelShape;
  runs: RunResult[];
  clip: ClipResult[];
  generation: GenerationResult[];
  bundled: BundledResult | null;
}

// JSON has no NaN or ±Infinity (a diverged run's PPL): they are written as strings.
const NON_FINITE = new Set(["NaN", "Infinity", "-Infinity"]);

/** `results` as JSON text (non-finite numbers kept as "NaN" / "Infinity"). */
export function resultsToJson(results: StudyResults): string {
  return JSON.stringify(
    results,
    (_, v) => typeof v === "number" && !Number.isFinite(v) ? String(v) : v,
    2,
  ) + "\n";
}

/** Parses `resultsToJson`'s text; throws `IoError` naming `source` when it is not that. */
export function resultsFromJson(text: string, source = "results.json"): StudyResults {
  let o: unknown;
  try {
    o = JSON.parse(text, (_, v) => typeof v === "string" && NON_FINITE.has(v) ? Number(v) : v);
  } catch (e) {
    throw new IoError(`${source} is not JSON (${(e as Error).message}): rerun bd3 reproduce`);
  }
  const r = o as Partial<StudyResults> | null;
  if (
    typeof r !== "object" || r === null || r.format !== RESULTS_FORMAT ||
    !Array.isArray(r.runs) || !Array.isArray(r.clip) || !Array.isArray(r.generation) ||
    typeof r.profile !== "object"
  ) {
    throw new IoError(
      `${source} is not a bd3 reproduce results file of format ${RESULTS_FORMAT}: rerun bd3 reproduce`,
    );
  }
  return r as StudyResults;
}

/** Writes `results` to `path` atomically. */
export async function writeResults(path: string, results: StudyResults): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(resultsToJson(results)));
}

/** Reads a results file written by `writeResults`. */
export async function readResults(path: string): Promise<StudyResults> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "file not found" : (e as Error).message;
    throw new IoError(`cannot read ${path}: ${why}`);
  }
  return resultsFromJson(text, path);
}
