/**
 * Prompt handling shared by the samplers: every row starts with BOS followed by its prompt,
 * and all rows of a batch share one prompt length (they are sampled in lockstep).
 * @module
 */

/** Per-row prefixes `[BOS, …prompt]`; one prompt is repeated for every row. */
export function prefixes(
  batch: number,
  bosId: number,
  prompt?: readonly number[] | readonly (readonly number[])[],
): number[][] {
  const perRow: readonly (readonly number[])[] = !prompt || prompt.length === 0
    ? Array.from({ length: batch }, () => [])
    : typeof prompt[0] === "number"
    ? Array.from({ length: batch }, () => prompt as readonly number[])
    : prompt as readonly (readonly number[])[];
  if (perRow.length !== batch) {
    throw new RangeError(`${perRow.length} prompts for a batch of ${batch}`);
  }
  const len = perRow[0].length;
  if (perRow.some((p) => p.length !== len)) {
    throw new RangeError("all prompts of a batch must have the same number of tokens");
  }
  return perRow.map((p) => [bosId, ...p]);
}
