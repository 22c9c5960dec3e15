import assert from "node:assert/strict";
import { clipCandidates, ClipSearch, unbiasedVariance } from "./clip_search.ts";

Deno.test("clipCandidates: the reference's 35 windows plus the unclipped one", () => {
  const c = clipCandidates();
  assert.equal(c.length, 36);
  assert.deepEqual(c[0], { min: 1e-3, max: 1 });
  assert.deepEqual(c[1], { min: 1e-3, max: 0.5 });
  assert.deepEqual(c[2], { min: 0.05, max: 0.55 });
  assert.deepEqual(c[11], { min: 0.5, max: 1 });
  assert.ok(c.some((w) => w.min === 0.45 && w.max === 0.95));
  assert.ok(c.some((w) => w.min === 0.3 && w.max === 0.8));
  assert.deepEqual(c.at(-1), { min: 0.1, max: 1 });
});

Deno.test("ClipSearch: picks the smallest summed variance, first on ties", () => {
  const s = new ClipSearch([{ min: 1e-3, max: 1 }, { min: 0.3, max: 0.8 }, {
    min: 0.45,
    max: 0.95,
  }], 2);
  s.record(0, [1, 5, 9]);
  s.record(1, [2, 3, 4]);
  s.record(2, [2, 3, 4]);
  s.record(1, [2, 3, 4]);
  s.record(2, [2, 3, 4]);
  assert.equal(s.wants(1), false);
  s.record(1, [100, -100]); // ignored: window already has its batches
  const best = s.best();
  assert.deepEqual(best.interval, { min: 0.3, max: 0.8 });
  assert.equal(best.varianceSum, 2);
  assert.equal(s.table()[0].meanVariance, 16);
  assert.equal(unbiasedVariance([1]), 0);
});
