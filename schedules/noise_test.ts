import assert from "node:assert/strict";
import {
  cosine,
  linearSchedule,
  logLinear,
  logSchedule,
  power,
  SCHEDULE_NAMES,
  scheduleByName,
  SIGMA_MAX,
} from "./noise.ts";

const TS = [0.01, 0.1, 0.25, 0.5, 0.7, 0.9, 0.99];

function numericDerivative(f: (t: number) => number, t: number): number {
  const h = 1e-6;
  return (f(t + h) - f(t - h)) / (2 * h);
}

Deno.test("noise schedules: closed forms match numeric derivatives", async (t) => {
  for (const s of [logLinear(), linearSchedule(), cosine(), power(2), power(0.5), logSchedule()]) {
    await t.step(s.name, () => {
      for (const x of TS) {
        const p = s.moveChance(x);
        assert.ok(p >= 0 && p <= 1, `${s.name}: move chance ${p} at t=${x} outside [0, 1]`);
        if (s.sigma(x) < SIGMA_MAX - 1e-6) {
          const num = numericDerivative((u) => s.sigma(u), x);
          // In a clamped (flat) region both derivatives are 0.
          const rel = Math.abs(s.dsigma(x) - num) / Math.max(Math.abs(s.dsigma(x)), 1e-12);
          assert.ok(rel < 1e-5, `${s.name}: dσ at t=${x} off by ${rel}`);
          // σ is −ln α, so the weight dmove/move equals dσ/expm1(σ) (up to the schedules'
          // ε-guards, which the cosine and power schedules add in the denominator).
          if (s.name !== "cosine" && p > 1e-3) {
            const w = s.dsigma(x) / Math.expm1(s.sigma(x));
            assert.ok(Math.abs(w - s.lossWeight(x)) / w < 1e-6, `${s.name}: weight at t=${x}`);
          }
        }
      }
    });
  }
});

Deno.test("log-linear: move chance t, weight 1/t, σ clipped at −ln 1e-3", () => {
  const s = logLinear();
  assert.equal(s.moveChance(0.3), 0.3);
  assert.ok(Math.abs(s.lossWeight(0.25) - 4) < 1e-12);
  assert.ok(Math.abs(s.sigma(0.5) - Math.LN2) < 1e-12);
  assert.equal(s.sigma(0.99999), SIGMA_MAX);
  assert.equal(s.dsigma(0.99999), 0);
  assert.ok(Math.abs(SIGMA_MAX - 6.907755) < 1e-6);
});

Deno.test("scheduleByName knows every name and refuses others clearly", () => {
  for (const n of SCHEDULE_NAMES) assert.equal(scheduleByName(n).name, n);
  assert.throws(() => scheduleByName("cosnie"), /unknown noise schedule 'cosnie'.*loglinear/);
});
