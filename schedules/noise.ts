/**
 * Masked-diffusion noise schedules (docs/design.md, "Noise schedule"). Each gives, for time
 * t ∈ [0, 1]: the move chance 1 − α_t (probability a token is masked), the NELBO weight −α′_t / (1 − α_t)
 * (returned positive; the reference's `loss_scaling` is its negative), the total noise
 * σ(t) = −ln(α_t) clipped at σ_max, and dσ/dt.
 * @module
 */

/** A noise schedule. All functions take t ∈ [0, 1]. */
export interface NoiseSchedule {
  /** Short identifier of the schedule (e.g. "loglinear"). */
  readonly name: string;
  /** 1 − α_t: the probability that a token is masked at time t. */
  moveChance(t: number): number;
  /** −α′_t / (1 − α_t) ≥ 0: the weight of a masked token's −log p in the NELBO. */
  lossWeight(t: number): number;
  /** σ(t) = −ln(1 − moveChance(t)), clipped at σ_max. */
  sigma(t: number): number;
  /** dσ/dt (0 where σ is clipped). */
  dsigma(t: number): number;
}

/** σ_max of the reference: −ln(1e-3), the σ of a move chance of 1 − 1e-3. */
export const SIGMA_MAX: number = -Math.log(1e-3);

function sigmaFromMove(p: number): number {
  return Math.min(-Math.log1p(-p), SIGMA_MAX);
}

/**
 * The log-linear schedule's σ(t) = −ln(1 − t), clipped at σ_max so it stays finite near t = 1
 * (what `logLinear().sigma` gives, without building the schedule): the σ a time-conditioned
 * model is given, in training, sampling and the tests.
 */
export function logLinearSigma(t: number): number {
  return sigmaFromMove(Math.min(t, 1));
}

/**
 * Builds a schedule from α-side functions: `move(t)` and its derivative `dmove(t)`.
 * σ′ = move′ / (1 − move) wherever σ is not clipped.
 */
function fromMove(
  name: string,
  move: (t: number) => number,
  dmove: (t: number) => number,
  weight?: (t: number) => number,
): NoiseSchedule {
  return {
    name,
    moveChance: move,
    lossWeight: weight ?? ((t) => dmove(t) / move(t)),
    sigma: (t) => sigmaFromMove(move(t)),
    dsigma: (t) => {
      const p = move(t);
      return -Math.log1p(-p) >= SIGMA_MAX ? 0 : dmove(t) / (1 - p);
    },
  };
}

/**
 * Log-linear (the reference's default, eps = 1e-3): move chance t, weight 1/t. In σ terms
 * σ(t) = −ln(1 − t) clipped at σ_max, so the weight also reads dσ / expm1(σ).
 */
export function logLinear(): NoiseSchedule {
  return { ...fromMove("loglinear", (t) => t, () => 1), sigma: logLinearSigma };
}

/**
 * Linear in σ (SEDD's "geometric-free" linear schedule): σ(t) = σ_min + t(σ_max − σ_min),
 * move chance 1 − e^−σ, weight dσ / expm1(σ).
 */
export function linearSchedule(sigmaMin = 1e-4, sigmaMax = 20): NoiseSchedule {
  const sig = (t: number) => sigmaMin + t * (sigmaMax - sigmaMin);
  const ds = sigmaMax - sigmaMin;
  return {
    name: "linear",
    moveChance: (t) => -Math.expm1(-sig(t)),
    lossWeight: (t) => ds / Math.expm1(sig(t)),
    sigma: (t) => sig(t),
    dsigma: () => ds,
  };
}

/** Cosine: move = 1 − (1 − ε)·cos(πt/2); the reference's weight divides by move + ε. */
export function cosine(eps = 1e-3): NoiseSchedule {
  const move = (t: number) => 1 - (1 - eps) * Math.cos((Math.PI * t) / 2);
  const dmove = (t: number) => (1 - eps) * (Math.PI / 2) * Math.sin((Math.PI * t) / 2);
  return fromMove("cosine", move, dmove, (t) => dmove(t) / (move(t) + eps));
}

/** Power schedules: move = max(t^e, ε); square (e = 2) and square root (e = 0.5). */
export function power(exponent: number, eps = 1e-3): NoiseSchedule {
  const move = (t: number) => Math.max(t ** exponent, eps);
  const dmove = (t: number) => (t ** exponent < eps ? 0 : exponent * t ** (exponent - 1));
  const name = exponent === 2 ? "square" : exponent === 0.5 ? "squareroot" : `power${exponent}`;
  return fromMove(name, move, dmove, (t) => (exponent * t ** (exponent - 1)) / move(t));
}

/** Log: move = log1p(t) / ln 2, weight 1 / (move · ln 2 · (1 + t)). */
export function logSchedule(): NoiseSchedule {
  const move = (t: number) => Math.log1p(t) / Math.LN2;
  const dmove = (t: number) => 1 / (Math.LN2 * (1 + t));
  return fromMove("log", move, dmove);
}

/** Names accepted by `scheduleByName`. */
export const SCHEDULE_NAMES: readonly string[] = [
  "loglinear",
  "linear",
  "cosine",
  "square",
  "squareroot",
  "log",
];

/** Looks a schedule up by name; throws with the list of names for an unknown one. */
export function scheduleByName(name: string): NoiseSchedule {
  switch (name) {
    case "loglinear":
      return logLinear();
    case "linear":
      return linearSchedule();
    case "cosine":
      return cosine();
    case "square":
      return power(2);
    case "squareroot":
      return power(0.5);
    case "log":
      return logSchedule();
  }
  throw new Error(`unknown noise schedule '${name}'; choose one of ${SCHEDULE_NAMES.join(", ")}`);
}
