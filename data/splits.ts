/**
 * Deterministic train/validation/test splits by document id.
 * @module
 */

/** A split name. */
export type Split = "train" | "validation" | "test";

/** FNV-1a 32-bit hash of a string's UTF-8 bytes. */
export function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** Split fractions; test gets the rest. Default 0.9 train, 0.05 validation, 0.05 test. */
export interface SplitFractions {
  /** Fraction of documents in train, in [0, 1]. */
  train: number;
  /** Fraction of documents in validation; train + validation ≤ 1. */
  validation: number;
}

/** The default fractions: 90 / 5 / 5. */
export const DEFAULT_FRACTIONS: SplitFractions = { train: 0.9, validation: 0.05 };

/** MurmurHash3's 32-bit finalizer, so that ids differing in their last characters spread out. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The split of a document: u = fmix32(FNV-1a-32(id)) / 2³² in [0, 1); train if u < train,
 * validation if u < train + validation, else test. Depends only on the id.
 */
export function splitOf(id: string, fractions: SplitFractions = DEFAULT_FRACTIONS): Split {
  const u = fmix32(fnv1a32(id)) / 2 ** 32;
  if (u < fractions.train) return "train";
  if (u < fractions.train + fractions.validation) return "validation";
  return "test";
}
