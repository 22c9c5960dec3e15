/**
 * Key-and-shape validation of a set of tensors against the expected state dict; collects every
 * problem so one error lists them all.
 * @module
 */
import { formatShape } from "@blockdiff/core";
import { CheckpointError } from "./errors.ts";

/** What is expected of one key. */
export interface Expected {
  /** Tensor key. */
  key: string;
  /** Required shape. */
  shape: readonly number[];
  /** May the key be absent? */
  optional?: boolean;
}

const MAX_LISTED = 12;

/**
 * Compares `found` (key → shape) with `expected`. Throws {@linkcode CheckpointError} starting
 * with `where` and listing missing keys, unexpected keys and wrong shapes (with `why` naming the
 * source of the expectation, e.g. the config file).
 */
export function checkKeysAndShapes(
  where: string,
  found: ReadonlyMap<string, readonly number[]>,
  expected: readonly Expected[],
  why: string,
): void {
  const problems: string[] = [];
  const known = new Set<string>();
  for (const e of expected) {
    known.add(e.key);
    const shape = found.get(e.key);
    if (!shape) {
      if (!e.optional) problems.push(`missing tensor "${e.key}" ${formatShape(e.shape)}`);
      continue;
    }
    if (shape.length !== e.shape.length || shape.some((s, i) => s !== e.shape[i])) {
      problems.push(
        `tensor "${e.key}" has shape ${formatShape(shape)} but ${why} needs ${
          formatShape(e.shape)
        }`,
      );
    }
  }
  for (const k of found.keys()) if (!known.has(k)) problems.push(`unexpected tensor "${k}"`);
  if (problems.length === 0) return;
  const listed = problems.slice(0, MAX_LISTED).join("; ");
  const more = problems.length > MAX_LISTED ? `; and ${problems.length - MAX_LISTED} more` : "";
  throw new CheckpointError(`${where}: ${listed}${more}`);
}
