/**
 * OpenAI's `text_completion` objects: the whole answer, the streamed chunks and their SSE
 * framing (`data: {json}` frames without event names, ended by `data: [DONE]`).
 * @module
 */
import type { OpenAiErrorBody } from "./errors.ts";

/** Why a choice ended: a stop string, EOS or stop rule (`stop`), or `max_tokens` (`length`). */
export type FinishReason = "stop" | "length";

/** One choice of a completion (or of a chunk, where `text` is the new text). */
export interface CompletionChoice {
  /** The text (a chunk: the text added since the previous chunk of this choice). */
  text: string;
  /** Position of the choice: prompt index × n + sample index. */
  index: number;
  /** Always null: log-probabilities are not offered. */
  logprobs: null;
  /** Why the choice ended; null in the chunks before its last. */
  finish_reason: FinishReason | null;
}

/** Token counts of a request. */
export interface CompletionUsage {
  /** Tokens of the prompts (each prompt counted once, whatever `n`). */
  prompt_tokens: number;
  /** Tokens of all choices' texts. */
  completion_tokens: number;
  /** Their sum. */
  total_tokens: number;
}

/** A completion, or one streamed chunk of it. */
export interface Completion {
  /** `cmpl-…`, the same in every chunk of a stream. */
  id: string;
  /** Always `text_completion`. */
  object: "text_completion";
  /** Unix time (s) the request was answered. */
  created: number;
  /** The model that answered. */
  model: string;
  /** The choices (a chunk: those with news). */
  choices: CompletionChoice[];
  /** Token counts (the whole answer, or a stream's usage chunk). */
  usage?: CompletionUsage;
}

/** Identity shared by every chunk of one answer. */
export interface CompletionHeader {
  /** `cmpl-…`. */
  id: string;
  /** Unix time (s). */
  created: number;
  /** Model name. */
  model: string;
}

/** A fresh header for an answer by `model`. */
export function completionHeader(model: string): CompletionHeader {
  const id = `cmpl-${crypto.randomUUID().replaceAll("-", "")}`;
  return { id, created: Math.floor(Date.now() / 1000), model };
}

/** Token counts from the two totals. */
export function usageOf(promptTokens: number, completionTokens: number): CompletionUsage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
}

/** The completion object for `header` with `choices` (and `usage` when given). */
export function completion(
  header: CompletionHeader,
  choices: CompletionChoice[],
  usage?: CompletionUsage,
): Completion {
  // OpenAI's member order, which people reading raw streams are used to.
  const c: Completion = {
    id: header.id,
    object: "text_completion",
    created: header.created,
    model: header.model,
    choices,
  };
  if (usage) c.usage = usage;
  return c;
}

/** A chunk of one choice: new `text`, and `finish` on the choice's last chunk. */
export function choiceChunk(
  header: CompletionHeader,
  index: number,
  text: string,
  finish: FinishReason | null = null,
): Completion {
  return completion(header, [{ text, index, logprobs: null, finish_reason: finish }]);
}

/** One SSE frame of `data` (JSON), as OpenAI streams it: no event name. */
export function dataFrame(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

/** The frame that ends a stream. */
export const DONE_FRAME = "data: [DONE]\n\n";

/** An error inside a stream (the clients raise it as an API error). */
export function errorFrame(error: OpenAiErrorBody): string {
  return dataFrame({ error });
}
