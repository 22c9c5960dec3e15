/**
 * The server's limits: request sizes, value ranges, queue bounds and timeouts. One place, so the
 * API, the page and the tests agree on them.
 * @module
 */

/** Limits of the web server; every field has a default (see {@link DEFAULT_LIMITS}). */
export interface ServerLimits {
  /** Longest prompt, in characters. */
  maxPromptChars: number;
  /** Most tokens per generation (BOS and prompt included). */
  maxLength: number;
  /** Most inner steps per block. */
  maxSteps: number;
  /** Largest fixed block size. */
  maxBlockSize: number;
  /** Largest request body, in bytes (larger ones get 413). */
  maxBodyBytes: number;
  /** Generations waiting behind the running one before new ones get 503. */
  maxWaiting: number;
  /** Generations one client may have running or waiting at once. */
  maxPerClient: number;
  /** A generation is stopped after this long (queue wait not included). */
  generationTimeoutMs: number;
  /** Seconds suggested in Retry-After when the queue is full. */
  retryAfterS: number;
  /** Loaded models kept on the GPU at once (least recently used is released). */
  maxLoadedModels: number;
}

/** The defaults: generous for a demo, small enough that one client cannot hog the GPU. */
export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  maxPromptChars: 4096,
  maxLength: 4096,
  maxSteps: 1000,
  maxBlockSize: 1024,
  maxBodyBytes: 64 * 1024,
  maxWaiting: 4,
  maxPerClient: 2,
  generationTimeoutMs: 120_000,
  retryAfterS: 5,
  maxLoadedModels: 2,
});

/** The defaults overridden by `partial`. */
export function resolveLimits(partial: Partial<ServerLimits> = {}): ServerLimits {
  return { ...DEFAULT_LIMITS, ...partial };
}
