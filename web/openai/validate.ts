/**
 * Validation of POST /v1/completions bodies: OpenAI's fields, plus the diffusion settings as
 * extra snake_case fields. The sampling fields are handed to the native API's validator
 * ({@link parseGenerateRequest}), so both APIs accept exactly the same ranges.
 * @module
 */
import type { ServerLimits } from "../limits.ts";
import { type GenerateRequest, parseGenerateRequest, type ValidationError } from "../validate.ts";
import { invalidRequest, modelNotFound, type OpenAiError } from "./errors.ts";

/** Most completions per prompt (`n`). */
export const MAX_N = 8;
/** Most prompts in one request. */
export const MAX_PROMPTS = 8;
/** Most stop strings (OpenAI's limit). */
export const MAX_STOPS = 4;
/** Completion tokens when `max_tokens` is absent (OpenAI's default). */
export const DEFAULT_MAX_TOKENS = 16;

/** A validated completion request. */
export interface CompletionRequest {
  /** Model name (one listed by GET /v1/models). */
  model: string;
  /** The prompts, each completed `n` times. */
  prompts: string[];
  /** Most completion tokens per choice. */
  maxTokens: number;
  /** Completions per prompt. */
  n: number;
  /** Strings the text is cut at (the first one found ends the choice). */
  stop: string[];
  /** Stream `text_completion` chunks as Server-Sent Events. */
  stream: boolean;
  /** Send a last chunk with `usage` (`stream_options.include_usage`). */
  includeUsage: boolean;
  /** Put the prompt before each choice's text. */
  echo: boolean;
  /** The sampling settings, as the native API validated them (prompt and length unset). */
  settings: GenerateRequest;
  /** Block sizes of the adaptive policy (`block_size: "adaptive"`), or null for the default. */
  adaptiveSizes: number[] | null;
}

/** OpenAI's fields this server accepts. */
const OPENAI_FIELDS = new Set([
  "model",
  "prompt",
  "max_tokens",
  "temperature",
  "top_p",
  "n",
  "seed",
  "stop",
  "stream",
  "stream_options",
  "echo",
  "user",
  "logprobs",
  "best_of",
  "frequency_penalty",
  "presence_penalty",
  "suffix",
  "logit_bias",
]);

/** Diffusion settings (extra body fields) and the native field each one is. */
const EXTRA_FIELDS: Record<string, string> = {
  block_size: "blockSize",
  sampler: "sampler",
  steps: "steps",
  stop_at_eos: "stopAtEos",
  entropy_stop: "entropyStop",
};

/** Native field names back to this API's, for error messages. */
const NATIVE_TO_OPENAI: Record<string, string> = {
  ...Object.fromEntries(Object.entries(EXTRA_FIELDS).map(([k, v]) => [v, k])),
  topP: "top_p",
  temperature: "temperature",
  seed: "seed",
};

/** A native validation error (field names in camelCase) as this API's 400. */
export function fromNativeError(e: ValidationError): OpenAiError {
  const rename = (s: string) =>
    s.replace(/\b(topP|blockSize|stopAtEos|entropyStop)\b/g, (m) => NATIVE_TO_OPENAI[m]);
  return invalidRequest(rename(e.error), rename(e.field));
}

/** A refused request, thrown from deep in the checks and answered by the caller. */
class Rejected extends Error {
  constructor(readonly reply: OpenAiError) {
    super(reply.error.message);
  }
}

function bad(message: string, param: string | null = null): never {
  throw new Rejected(invalidRequest(message, param));
}

function int(v: unknown, param: string, lo: number, hi: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    bad(`${param} must be an integer in [${lo}, ${hi}]`, param);
  }
  return v;
}

/** Fields OpenAI defines that this server cannot honour, accepted only at their neutral value. */
function checkUnsupported(b: Record<string, unknown>, n: number): void {
  if (b.logprobs !== undefined && b.logprobs !== null && b.logprobs !== 0) {
    bad("logprobs are not supported by this server; omit logprobs", "logprobs");
  }
  if (b.suffix !== undefined && b.suffix !== null) {
    bad("suffix is not supported by this server; omit suffix", "suffix");
  }
  for (const p of ["frequency_penalty", "presence_penalty"]) {
    if (b[p] !== undefined && b[p] !== null && b[p] !== 0) {
      bad(`${p} is not supported by this server; omit ${p}`, p);
    }
  }
  if (b.best_of !== undefined && b.best_of !== null && b.best_of !== n) {
    bad("best_of is not supported by this server; use n", "best_of");
  }
  const bias = b.logit_bias;
  if (
    bias !== undefined && bias !== null &&
    !(typeof bias === "object" && Object.keys(bias).length === 0)
  ) {
    bad("logit_bias is not supported by this server; omit logit_bias", "logit_bias");
  }
  if (b.user !== undefined && typeof b.user !== "string") {
    bad("user must be a string", "user");
  }
}

function parsePrompts(v: unknown, limits: ServerLimits): string[] {
  const prompts = v === undefined ? [""] : typeof v === "string" ? [v] : v;
  const valid = Array.isArray(prompts) && prompts.length > 0 && prompts.length <= MAX_PROMPTS &&
    prompts.every((p) => typeof p === "string" && p.length <= limits.maxPromptChars);
  if (!valid) {
    bad(
      `prompt must be a string or a list of 1 to ${MAX_PROMPTS} strings (token ids are not ` +
        `accepted), each of at most ${limits.maxPromptChars} chars`,
      "prompt",
    );
  }
  return prompts as string[];
}

function parseStop(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  const stops = typeof v === "string" ? [v] : v;
  if (
    !Array.isArray(stops) || stops.length > MAX_STOPS ||
    stops.some((s) => typeof s !== "string" || s.length === 0 || s.length > 256)
  ) {
    bad(
      `stop must be a string or a list of at most ${MAX_STOPS} non-empty strings`,
      "stop",
    );
  }
  return stops as string[];
}

function parseAdaptive(b: Record<string, unknown>, limits: ServerLimits): number[] | null {
  if (b.adaptive_sizes === undefined) return null;
  const sizes = b.adaptive_sizes;
  if (b.block_size !== "adaptive") {
    bad(`adaptive_sizes needs block_size: "adaptive"`, "adaptive_sizes");
  }
  if (!Array.isArray(sizes) || sizes.length === 0 || sizes.length > 8) {
    bad("adaptive_sizes must be a list of 1 to 8 block sizes", "adaptive_sizes");
  }
  return sizes.map((s) => int(s, "adaptive_sizes", 1, limits.maxBlockSize));
}

/**
 * Checks a parsed JSON body against `limits` and the offered `models`: an unknown field or
 * value is a 400, a model the server does not offer a 404 `model_not_found`.
 */
export function parseCompletionRequest(
  body: unknown,
  limits: ServerLimits,
  models: readonly string[],
): { ok: true; value: CompletionRequest } | { ok: false; error: OpenAiError } {
  try {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      bad("the body must be a JSON object");
    }
    const b = body as Record<string, unknown>;
    const unknown = Object.keys(b).find((k) =>
      !OPENAI_FIELDS.has(k) && !(k in EXTRA_FIELDS) && k !== "adaptive_sizes"
    );
    if (unknown !== undefined) {
      bad(`unknown field ${JSON.stringify(unknown)}`, unknown);
    }
    if (typeof b.model !== "string") {
      bad("model must be the name of a listed model (GET /v1/models)", "model");
    }
    if (!models.includes(b.model)) throw new Rejected(modelNotFound(b.model));
    const n = b.n === undefined || b.n === null ? 1 : int(b.n, "n", 1, MAX_N);
    checkUnsupported(b, n);
    const prompts = parsePrompts(b.prompt, limits);
    const maxTokens = b.max_tokens === undefined || b.max_tokens === null
      ? DEFAULT_MAX_TOKENS
      : int(b.max_tokens, "max_tokens", 1, limits.maxLength - 1);
    const stream = b.stream === undefined || b.stream === null ? false : b.stream;
    if (typeof stream !== "boolean") bad("stream must be true or false", "stream");
    const echo = b.echo ?? false;
    if (typeof echo !== "boolean") bad("echo must be true or false", "echo");
    const so = b.stream_options;
    if (so !== undefined && so !== null && (typeof so !== "object" || Array.isArray(so))) {
      bad("stream_options must be an object", "stream_options");
    }
    const includeUsage = (so as { include_usage?: unknown } | null)?.include_usage === true;
    // An absent seed draws one, so that repeated requests differ as they do with OpenAI.
    const seed = b.seed === undefined || b.seed === null
      ? Math.floor(Math.random() * 2 ** 32)
      : b.seed;
    const native: Record<string, unknown> = { model: b.model, seed, stream: false };
    if (b.temperature !== undefined && b.temperature !== null) native.temperature = b.temperature;
    if (b.top_p !== undefined && b.top_p !== null) native.topP = b.top_p;
    for (const [field, nativeField] of Object.entries(EXTRA_FIELDS)) {
      if (b[field] !== undefined) native[nativeField] = b[field];
    }
    const parsed = parseGenerateRequest(native, limits, models);
    if (!parsed.ok) throw new Rejected(fromNativeError(parsed.error));
    return {
      ok: true,
      value: {
        model: b.model,
        prompts,
        maxTokens,
        n,
        stop: parseStop(b.stop),
        stream,
        includeUsage,
        echo,
        settings: parsed.value,
        adaptiveSizes: parseAdaptive(b, limits),
      },
    };
  } catch (e) {
    if (e instanceof Rejected) return { ok: false, error: e.reply };
    throw e;
  }
}
