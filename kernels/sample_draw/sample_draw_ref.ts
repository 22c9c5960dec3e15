/**
 * Float64 CPU reference of {@linkcode sampleDraw}: the host implementation of the draw record,
 * `hostDrawRecords` in `@blockdiff/schedules` (literally the samplers' `softmaxRow` →
 * `nucleusRow` → `drawCategorical`), plus how far each decision was from flipping, so tests can
 * tell f32 rounding from a wrong answer. It lives in schedules so that host denoisers in the
 * samplers' tests return the records the same way; this module names it for the kernel's tests.
 * @module
 */
import { type DrawRecordOptions, type HostDrawRecord, hostDrawRecords } from "@blockdiff/schedules";

/** Options of {@linkcode sampleDrawRef} (as {@linkcode sampleDraw}'s). */
export type SampleDrawRefOptions = DrawRecordOptions;

/** The reference's results per sampled row, with the decision margins. */
export type SampleDrawRefResult = HostDrawRecord;

/**
 * Samples every selected row of `logits` (`[rows, vocab]`, row-major) with its uniform, as
 * the host samplers would: p_θ = softmax(logits / T) with the mask removed, the nucleus
 * filter, then the inverse-CDF draw in index order.
 */
export const sampleDrawRef: (
  logits: ArrayLike<number>,
  vocab: number,
  uniforms: ArrayLike<number>,
  opts?: SampleDrawRefOptions,
) => SampleDrawRefResult = hostDrawRecords;
