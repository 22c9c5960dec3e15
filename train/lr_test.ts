import assert from "node:assert/strict";
import { constantWarmup, cosineWarmup } from "./lr.ts";

Deno.test("LR schedules: warm-up then constant or cosine", () => {
  const c = constantWarmup(3e-4, 100);
  assert.equal(c(50), 1.5e-4);
  assert.equal(c(100), 3e-4);
  assert.equal(c(5000), 3e-4);
  const k = cosineWarmup(1e-3, 10, 110);
  assert.ok(Math.abs(k(10) - 1e-3) < 1e-12);
  assert.ok(Math.abs(k(60) - (1e-6 + 0.5 * (1e-3 - 1e-6))) < 1e-12);
  assert.ok(Math.abs(k(110) - 1e-6) < 1e-12);
});
