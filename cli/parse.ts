/**
 * Parsers for structured flag values, with one-line errors naming the flag.
 * @module
 */
import { UsageError } from "./args.ts";

/** `β,ω` → a clip interval with 0 ≤ β < ω ≤ 1. */
export function parseClip(text: string, command: string): { min: number; max: number } {
  const parts = text.split(",").map(Number);
  if (parts.length !== 2 || parts.some((v) => !Number.isFinite(v))) {
    throw new UsageError(
      `bd3 ${command}: --clip takes two numbers β,ω such as 0.3,0.8, got '${text}'`,
    );
  }
  const [min, max] = parts;
  if (!(min >= 0 && max <= 1 && min < max)) {
    throw new UsageError(`bd3 ${command}: --clip needs 0 ≤ β < ω ≤ 1, got ${min},${max}`);
  }
  return { min, max };
}

/** `4,8,16` → positive integers. */
export function parseList(text: string, flag: string, command: string): number[] {
  const values = text.split(",").map((s) => Number(s.trim()));
  if (!values.length || values.some((v) => !Number.isInteger(v) || v < 1)) {
    throw new UsageError(
      `bd3 ${command}: --${flag} takes positive integers like 4,8,16, got '${text}'`,
    );
  }
  return values;
}
