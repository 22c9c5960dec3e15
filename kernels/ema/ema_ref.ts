/**
 * Float64 reference of the parameter EMA.
 * @module
 */

/** `ema ← decay·ema + (1 − decay)·param`, in place. */
export function emaRef(ema: Float64Array, param: ArrayLike<number>, decay: number): void {
  for (let i = 0; i < ema.length; i++) ema[i] = decay * ema[i] + (1 - decay) * param[i];
}
