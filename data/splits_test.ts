import assert from "node:assert/strict";
import { fnv1a32, splitOf } from "./splits.ts";

Deno.test("deterministic splits", () => {
  assert.equal(fnv1a32(""), 0x811c9dc5);
  assert.equal(fnv1a32("a"), 0xe40c292c);
  const counts = { train: 0, validation: 0, test: 0 };
  for (let i = 0; i < 4000; i++) {
    const s = splitOf(`doc-${i}`);
    assert.equal(s, splitOf(`doc-${i}`));
    counts[s]++;
  }
  assert.ok(Math.abs(counts.train / 4000 - 0.9) < 0.02, JSON.stringify(counts));
  assert.ok(Math.abs(counts.validation / 4000 - 0.05) < 0.015, JSON.stringify(counts));
  assert.equal(splitOf("x", { train: 1, validation: 0 }), "train");
  assert.equal(splitOf("x", { train: 0, validation: 0 }), "test");
});
