/**
 * Learning-rate schedules of the reference (docs/design.md, "Training"): constant with linear
 * warm-up, and cosine decay with warm-up.
 * @module
 */

/** A schedule: the learning rate for optimizer step `step` (1-based: the step being taken). */
export type LrSchedule = (step: number) => number;

/** `lr · min(1, step / warmup)`: linear from 0 over `warmup` steps, then constant. */
export function constantWarmup(lr: number, warmup: number): LrSchedule {
  return (step) => (warmup > 0 ? lr * Math.min(1, step / warmup) : lr);
}

/**
 * Linear warm-up from `floor` to `lr` over `warmup` steps, then cosine decay to `floor` at
 * `total` steps (the reference's `cosine_decay_warmup`, floor 1e-6).
 */
export function cosineWarmup(lr: number, warmup: number, total: number, floor = 1e-6): LrSchedule {
  return (step) => {
    if (step < warmup) return floor + (lr - floor) * (step / Math.max(1, warmup));
    const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
    return floor + 0.5 * (lr - floor) * (1 + Math.cos(Math.PI * progress));
  };
}
