import assert from "node:assert/strict";
import { checkInterval, expandToTokens, sampleTimes } from "./time.ts";

Deno.test("sampleTimes: one antithetic draw per stratum, inside the clip interval", () => {
  const n = 64;
  const u = Array.from({ length: n }, (_, i) => ((i * 37) % 101) / 101);
  const t = sampleTimes(u, { min: 0.3, max: 0.8 });
  const strata = new Set<number>();
  for (let r = 0; r < n; r++) {
    assert.ok(t[r] >= 0.3 && t[r] < 0.8);
    strata.add(Math.floor(((t[r] - 0.3) / 0.5) * n + 1e-9));
  }
  assert.equal(strata.size, n);
});

Deno.test("sampleTimes: both bounds ≥ 1 means t ≡ 1; bad intervals are refused", () => {
  assert.deepEqual([...sampleTimes([0.1, 0.2], { min: 1, max: 1 })], [1, 1]);
  assert.throws(() => checkInterval({ min: 0.9, max: 0.2 }), /invalid.*--clip/);
});

Deno.test("expandToTokens repeats each block's t over its tokens", () => {
  assert.deepEqual([...expandToTokens([0.1, 0.2, 0.3, 0.4], 2, 3)], [
    0.1,
    0.1,
    0.1,
    0.2,
    0.2,
    0.2,
    0.3,
    0.3,
    0.3,
    0.4,
    0.4,
    0.4,
  ]);
});
