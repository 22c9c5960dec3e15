/**
 * Bounded JSON parsing for untrusted headers: size and nesting depth are checked by a linear
 * scan before `JSON.parse` runs, so a hostile file cannot exhaust the stack or memory.
 * @module
 */

/** A JSON value as produced by `JSON.parse`. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** Limits for {@linkcode parseBoundedJson}. */
export interface JsonLimits {
  /** Largest accepted text length in UTF-16 code units. */
  maxLength: number;
  /** Deepest accepted nesting of arrays/objects (the top-level object is depth 1). */
  maxDepth: number;
}

/**
 * Parses `text` as JSON after checking its length and nesting depth. Throws a plain `Error`
 * with a short reason; callers wrap it with the file name.
 */
export function parseBoundedJson(text: string, limits: JsonLimits): JsonValue {
  if (text.length > limits.maxLength) {
    throw new Error(`JSON is ${text.length} characters, above the limit of ${limits.maxLength}`);
  }
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limits.maxDepth) {
        throw new Error(`JSON nests deeper than ${limits.maxDepth} levels`);
      }
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  try {
    return JSON.parse(text) as JsonValue;
  } catch (e) {
    throw new Error(`not valid JSON (${(e as Error).message})`);
  }
}

/** True for a plain JSON object (not null, not an array). */
export function isJsonObject(v: unknown): v is { [key: string]: JsonValue } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
