import assert from "node:assert/strict";
import {
  argmax,
  drawCategorical,
  nucleusRow,
  SamplerRng,
  softmaxRow,
  toProbabilities,
  unigramEntropy,
} from "./mod.ts";

const close = (a: number, b: number, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

Deno.test("samplers: probabilities and draws", async (t) => {
  await t.step("inverse-CDF draw hits each class in proportion to its weight", () => {
    const w = [0.1, 0, 0.6, 0.3];
    const n = 1000;
    const counts = [0, 0, 0, 0];
    // A uniform grid of u gives exact frequencies: ⌈·⌉ rounding only at the class edges.
    for (let k = 0; k < n; k++) counts[drawCategorical(w, (k + 0.5) / n)]++;
    assert.deepEqual(counts, [100, 0, 600, 300]);
    // Unnormalised weights and an offset window give the same answer.
    assert.equal(drawCategorical([9, 9, 2, 0, 12, 6], 0.35, 2, 4), 2);
    assert.throws(() => drawCategorical([0, 0], 0.5));
  });

  await t.step("temperature and mask removal", () => {
    const out = new Float64Array(3);
    softmaxRow([1, 2, 50], 0, 3, out, 0, 1, 2);
    const e = Math.E;
    close(out[0], 1 / (1 + e));
    close(out[1], e / (1 + e));
    assert.equal(out[2], 0);
    softmaxRow([1, 2, 3], 0, 3, out, 0, 0.5);
    const z = Math.exp(2) + Math.exp(4) + Math.exp(6);
    close(out[2], Math.exp(6) / z);
    softmaxRow([1, 7, 3], 0, 3, out, 0, 0);
    assert.deepEqual([...out], [0, 1, 0]);
  });

  await t.step(
    "nucleus keeps the entries whose cumulative mass is ≤ p (crossing one dropped)",
    () => {
      const p = Float64Array.from([0.1, 0.5, 0.25, 0.15]);
      nucleusRow(p, 0, 4, 0.8);
      // Sorted 0.5, 0.25 (0.75 ≤ 0.8), 0.15 would cross → dropped.
      close(p[1], 0.5 / 0.75);
      close(p[2], 0.25 / 0.75);
      assert.equal(p[0], 0);
      assert.equal(p[3], 0);
      const top = Float64Array.from([0.2, 0.7, 0.1]);
      nucleusRow(top, 0, 3, 0.3); // the top-1 alone already exceeds p: kept anyway
      assert.deepEqual([...top], [0, 1, 0]);
      const ties = Float64Array.from([0.25, 0.25, 0.25, 0.25]);
      nucleusRow(ties, 0, 4, 0.5);
      assert.deepEqual([...ties], [0.5, 0.5, 0, 0]);
      const probs = toProbabilities([0, Math.log(3), 9], 1, 3, { maskId: 2, topP: 1 });
      close(probs[1], 0.75);
    },
  );

  await t.step("Philox stream: reproducible, uniform, streams differ", () => {
    const a = new SamplerRng(7), b = new SamplerRng(7), c = new SamplerRng(7, 1);
    const xs = Array.from({ length: 20000 }, () => a.next());
    assert.deepEqual(xs.slice(0, 5), Array.from({ length: 5 }, () => b.next()));
    assert.notEqual(xs[0], c.next());
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
    assert.ok(xs.every((x) => x >= 0 && x < 1));
  });

  await t.step("entropy and argmax helpers", () => {
    close(unigramEntropy([1, 1, 2, 2]), Math.log(2));
    assert.equal(unigramEntropy([5, 5, 5]), 0);
    assert.equal(argmax([1, 3, 3, 2]), 1);
  });
});
