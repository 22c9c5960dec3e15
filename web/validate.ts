/**
 * Validation of generation requests (POST /api/generate, and the in-browser mode, which runs
 * the same checks before calling `generate` locally). Pure and browser-safe.
 * @module
 */
import type { ServerLimits } from "./limits.ts";

/** Inner samplers offered by the API. */
export const SAMPLERS = ["first-hitting", "ancestral", "confidence"] as const;

/** A validated generation request. */
export interface GenerateRequest {
  /** Model name (one listed by GET /api/models). */
  model: string;
  /** Text to continue (default empty). */
  prompt: string;
  /** Tokens per row including BOS and prompt (default: the model length). */
  length?: number;
  /** Inner steps per block (ancestral; default the block size). */
  steps?: number;
  /** Inner sampler (default `first-hitting`). */
  sampler: (typeof SAMPLERS)[number];
  /** Nucleus mass kept, in (0, 1] (default 1: off). */
  topP: number;
  /** Softmax temperature, 0 to 100 (default 1). */
  temperature: number;
  /** A fixed block size, `"adaptive"` (sizes 4, 8, 16), or the model's own when absent. */
  blockSize?: number | "adaptive";
  /** Random seed, 0 to 2^32 - 1 (default 0). */
  seed: number;
  /** Stop at the first EOS. */
  stopAtEos: boolean;
  /** Low-entropy stop over a trailing window, or off. */
  entropyStop: false | { window: number; threshold: number };
  /** Stream Server-Sent Events (default) or answer one JSON object. */
  stream: boolean;
}

/** A rejected request: the offending field and why. */
export interface ValidationError {
  /** Name of the offending request field. */
  field: string;
  /** What is wrong and what is allowed. */
  error: string;
}

const FIELDS = new Set([
  "model",
  "prompt",
  "length",
  "steps",
  "sampler",
  "topP",
  "temperature",
  "blockSize",
  "seed",
  "stopAtEos",
  "entropyStop",
  "stream",
]);

class Invalid extends Error {
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

function int(v: unknown, field: string, lo: number, hi: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    throw new Invalid(field, `${field} must be an integer in [${lo}, ${hi}]`);
  }
  return v;
}

function num(v: unknown, field: string, lo: number, hi: number, loOpen = false): number {
  const bad = typeof v !== "number" || !Number.isFinite(v) || v > hi ||
    (loOpen ? v <= lo : v < lo);
  if (bad) {
    throw new Invalid(field, `${field} must be a number in ${loOpen ? "(" : "["}${lo}, ${hi}]`);
  }
  return v as number;
}

function bool(v: unknown, field: string): boolean {
  if (typeof v !== "boolean") throw new Invalid(field, `${field} must be true or false`);
  return v;
}

/**
 * Checks a parsed JSON body against `limits` and the available `models`. The model's own
 * constraints (block size dividing its length) are checked by {@link checkAgainstModel}.
 */
export function parseGenerateRequest(
  body: unknown,
  limits: ServerLimits,
  models: readonly string[],
): { ok: true; value: GenerateRequest } | { ok: false; error: ValidationError } {
  try {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new Invalid("body", "the body must be a JSON object");
    }
    const b = body as Record<string, unknown>;
    const unknown = Object.keys(b).find((k) => !FIELDS.has(k));
    if (unknown !== undefined) {
      throw new Invalid(unknown, `unknown field ${JSON.stringify(unknown)}`);
    }
    let model: string;
    if (b.model === undefined) {
      if (models.length === 0) throw new Invalid("model", "no models are loaded");
      model = models[0];
    } else if (typeof b.model !== "string" || !models.includes(b.model)) {
      throw new Invalid("model", "model must be the name of a listed model (GET /api/models)");
    } else model = b.model;
    const prompt = b.prompt ?? "";
    if (typeof prompt !== "string" || prompt.length > limits.maxPromptChars) {
      throw new Invalid(
        "prompt",
        `prompt must be a string of at most ${limits.maxPromptChars} chars`,
      );
    }
    const sampler = b.sampler ?? "first-hitting";
    if (!SAMPLERS.includes(sampler as GenerateRequest["sampler"])) {
      throw new Invalid("sampler", `sampler must be one of ${SAMPLERS.join(", ")}`);
    }
    let blockSize: GenerateRequest["blockSize"];
    if (b.blockSize === "adaptive") blockSize = "adaptive";
    else if (b.blockSize !== undefined) {
      if (typeof b.blockSize === "string") {
        throw new Invalid("blockSize", `blockSize must be an integer or "adaptive"`);
      }
      blockSize = int(b.blockSize, "blockSize", 1, limits.maxBlockSize);
    }
    let entropyStop: GenerateRequest["entropyStop"] = false;
    if (b.entropyStop !== undefined && b.entropyStop !== false) {
      const e = b.entropyStop as Record<string, unknown>;
      if (typeof e !== "object" || e === null || Array.isArray(e)) {
        throw new Invalid("entropyStop", "entropyStop must be false or {window, threshold}");
      }
      entropyStop = {
        window: int(e.window ?? 256, "entropyStop.window", 1, limits.maxLength),
        threshold: num(e.threshold ?? 4, "entropyStop.threshold", 0, 20),
      };
    }
    const value: GenerateRequest = {
      model,
      prompt,
      length: b.length === undefined ? undefined : int(b.length, "length", 2, limits.maxLength),
      steps: b.steps === undefined ? undefined : int(b.steps, "steps", 1, limits.maxSteps),
      sampler: sampler as GenerateRequest["sampler"],
      topP: b.topP === undefined ? 1 : num(b.topP, "topP", 0, 1, true),
      temperature: b.temperature === undefined ? 1 : num(b.temperature, "temperature", 0, 100),
      blockSize,
      seed: b.seed === undefined ? 0 : int(b.seed, "seed", 0, 2 ** 32 - 1),
      stopAtEos: b.stopAtEos === undefined ? true : bool(b.stopAtEos, "stopAtEos"),
      entropyStop,
      stream: b.stream === undefined ? true : bool(b.stream, "stream"),
    };
    return { ok: true, value };
  } catch (e) {
    if (e instanceof Invalid) return { ok: false, error: { field: e.field, error: e.message } };
    throw e;
  }
}

/** What {@link checkAgainstModel} needs of a model. */
export interface ModelShape {
  /** Training algorithm of the model. */
  algo: string;
  /** Training length L. */
  length: number;
}

/**
 * The checks that depend on the chosen model: a fixed block size must divide the model length
 * (so blocks tile the context the model was trained on) and MDLM samples exactly its length.
 */
export function checkAgainstModel(req: GenerateRequest, model: ModelShape): ValidationError | null {
  if (typeof req.blockSize === "number" && model.length % req.blockSize !== 0) {
    return {
      field: "blockSize",
      error: `blockSize must divide the model length ${model.length}`,
    };
  }
  if (model.algo === "mdlm" && req.length !== undefined && req.length !== model.length) {
    return { field: "length", error: `this MDLM model samples exactly ${model.length} tokens` };
  }
  return null;
}
