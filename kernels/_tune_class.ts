/**
 * The choice step shared by the kernel tuners (matmul, attention): time every candidate variant
 * on each shape of one shape class and keep the default unless another is clearly faster.
 * @module
 */

/** What timing one shape gave: milliseconds per candidate, and why the failed ones failed. */
export interface ShapeTiming<V extends string> {
  /** Best sampled milliseconds of each candidate that computed the right result. */
  ms: Partial<Record<V, number>>;
  /** Candidates that failed on this shape, with the reason. */
  failed: Partial<Record<V, string>>;
}

/** The tuned choice of one class, as the tuning tables store it. */
export interface ClassChoice<V extends string, S> {
  /** The chosen variant. */
  variant: V;
  /** Milliseconds of each timed candidate, summed over `shapes`. */
  ms: Partial<Record<V, number>>;
  /** The shapes timed (copies). */
  shapes: S[];
  /** Candidates that failed on some shape, with the reason; absent when none failed. */
  failed?: Partial<Record<V, string>>;
}

/**
 * Times `candidates` on every shape of `list` (a candidate that fails once is not timed on the
 * later shapes), sums each candidate's times, and keeps `rule` (the untuned default) unless the
 * fastest correct candidate beats it by more than the fraction `margin`. Returns null when every
 * candidate failed, so the defaults decide the class.
 */
export async function tuneClass<V extends string, S extends object>(
  list: readonly S[],
  candidates: readonly V[],
  rule: V,
  margin: number,
  timeShape: (shape: S, live: V[]) => Promise<ShapeTiming<V>>,
): Promise<ClassChoice<V, S> | null> {
  const failed: Partial<Record<V, string>> = {};
  const total: Partial<Record<V, number>> = {};
  for (const s of list) {
    const r = await timeShape(s, candidates.filter((v) => !(v in failed)));
    Object.assign(failed, r.failed);
    for (const [v, ms] of Object.entries(r.ms) as [V, number][]) total[v] = (total[v] ?? 0) + ms;
  }
  const ms: Partial<Record<V, number>> = {};
  for (const v of candidates) if (!(v in failed) && total[v] !== undefined) ms[v] = total[v];
  const timed = Object.entries(ms) as [V, number][];
  if (timed.length === 0) return null;
  const [fastest, fastestMs] = timed.reduce((x, y) => (y[1] < x[1] ? y : x));
  const variant = ms[rule] !== undefined && fastestMs >= ms[rule]! * (1 - margin) ? rule : fastest;
  return {
    variant,
    ms,
    shapes: list.map((s) => ({ ...s })),
    ...(Object.keys(failed).length ? { failed } : {}),
  };
}
