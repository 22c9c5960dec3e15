/**
 * Float64 reference of the log-softmax + gather backward.
 * @module
 */
import { logSoftmaxGatherRef } from "./log_softmax_ref.ts";

/**
 * `dx[r, v] = w_r · (softmax(x_r)[v] − [v = t_r])`, column `maskId` 0, rows with t_r < 0 zero,
 * rows with t_r ≥ n NaN: the gradient of `Σ_r w_r · loss_r` of {@linkcode logSoftmaxGatherRef}.
 * The softmax is recomputed here from x, independently of any saved lse.
 */
export function logSoftmaxGatherBackwardRef(
  x: ArrayLike<number>,
  target: ArrayLike<number>,
  weight: ArrayLike<number>,
  n: number,
  maskId = -1,
): Float64Array {
  const rows = target.length;
  const { lse } = logSoftmaxGatherRef(x, target, n, maskId);
  const dx = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const t = target[r];
    if (t < 0) continue;
    for (let v = 0; v < n; v++) {
      if (v === maskId) continue;
      dx[r * n + v] = t >= n
        ? NaN
        : weight[r] * (Math.exp(x[r * n + v] - lse[r]) - (v === t ? 1 : 0));
    }
  }
  return dx;
}
