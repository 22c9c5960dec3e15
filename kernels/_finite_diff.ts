/**
 * Finite-difference gradient checks shared by the kernels' backward tests: an analytic
 * gradient (of a kernel, or of a float64 reference) is compared, at a sample of input elements,
 * with central differences `(L(x + h) − L(x − h)) / 2h` of a float64 forward, where L is a
 * random projection `Σ r ⊙ forward(x)` or any scalar function of x. Not re-exported by
 * kernels/mod.ts.
 * @module
 */
import { relativeError, type Rng } from "@blockdiff/core/testing";

/**
 * `count` distinct random indices below `n` (all of them when n ≤ count), plus the `extra`
 * ones that must be checked (deduplicated, and below n).
 */
export function sampleIndices(
  rng: Rng,
  n: number,
  count: number,
  extra: readonly number[] = [],
): number[] {
  const set = new Set(extra);
  const size = Math.min(n, count + set.size);
  while (set.size < size) set.add(rng.int(0, n - 1));
  return [...set];
}

/**
 * Central differences of the projected loss `Σ r ⊙ forward()` with respect to `input[i]` for
 * each sampled i; `input` is perturbed in place and restored. The loss difference is formed as
 * `Σ r ⊙ (forward(x + h) − forward(x − h))`, not `L(x + h) − L(x − h)`: outputs the element
 * does not reach cancel exactly, so the float64 rounding of a long sum stays out of the
 * difference (it would otherwise be amplified by 1/2h). h = 1e-6 keeps the truncation error
 * O(h²) and the rounding O(ε/h) both far below 1e-6 relative for the O(1) test data.
 */
export function centralDifferences(
  forward: () => ArrayLike<number>,
  r: ArrayLike<number>,
  input: Float64Array,
  indices: readonly number[],
  h = 1e-6,
): Float64Array {
  const out = new Float64Array(indices.length);
  indices.forEach((i, k) => {
    const v = input[i];
    input[i] = v + h;
    const up = Float64Array.from(forward());
    input[i] = v - h;
    const down = forward();
    input[i] = v;
    let s = 0;
    for (let o = 0; o < up.length; o++) s += r[o] * (up[o] - down[o]);
    out[k] = s / (2 * h);
  });
  return out;
}

/** The sampled elements of a gradient. */
export function pick(grad: ArrayLike<number>, indices: readonly number[]): Float64Array {
  return Float64Array.from(indices, (i) => grad[i]);
}

/**
 * Asserts that a sampled analytic gradient matches its central differences:
 * `‖a − fd‖ / max(‖fd‖, 1e-3·√k) < tol` over the k samples. The floor matters only for samples
 * whose gradients are all tiny (e.g. one input deep in GELU's saturated tail): there the
 * float64 forward itself cancels (1 + tanh u ≈ 0) and its rounding, amplified by 1/2h, leaves
 * an absolute FD noise of about 1e-10 per element, so such samples are held to an absolute
 * 1e-9 per element (at tol 1e-6), still far below the size of any real error. Returns the
 * error; throws with the seed to replay otherwise.
 */
export function assertGradient(
  analytic: ArrayLike<number>,
  fd: ArrayLike<number>,
  tol: number,
  what: string,
  seed: number,
): number {
  let num = 0;
  let den = 0;
  for (let k = 0; k < fd.length; k++) {
    num += (analytic[k] - fd[k]) ** 2;
    den += fd[k] ** 2;
  }
  const err = Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-3 * Math.sqrt(fd.length));
  if (!(err < tol)) {
    throw new Error(
      `${what}: gradient vs finite differences error ${err.toExponential(3)} ≥ ${tol} ` +
        `(got [${Array.from(analytic).slice(0, 4)}…], FD [${Array.from(fd).slice(0, 4)}…]). ` +
        `Replay: BLOCKDIFF_SEED=${seed}`,
    );
  }
  return err;
}

/**
 * Relative error ‖fd − grad‖ / ‖grad‖ over the sampled coordinates, where fd are central
 * differences of the scalar `f` (a random projection of a float64 forward reference). `x` is
 * perturbed in place and restored.
 * @param indices coordinates to check
 * @param h step; in float64 the truncation error is O(h²·f‴) and the rounding error
 *   O(ε·|f|/h), so h ≈ 1e-5 keeps both far below 1e-6 for well-scaled f
 */
export function finiteDifferenceError(
  f: (x: Float64Array) => number,
  x: Float64Array,
  grad: ArrayLike<number>,
  indices: readonly number[],
  h = 1e-5,
): number {
  const fd = centralDifferences(() => [f(x)], [1], x, indices, h);
  return relativeError(fd, pick(grad, indices));
}
