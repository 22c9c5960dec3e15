import assert from "node:assert/strict";
import { gpuTest } from "./testing/mod.ts";
import { liveTensorCount, Tensor } from "./tensor.ts";
import { ShapeError } from "./gpu/errors.ts";

gpuTest("tensor: upload, read back, views, pool reuse", async (t, gpu) => {
  await t.step("round trip f32 / i32 / u32", async () => {
    using a = Tensor.from(gpu, [1, 2, 3, 4.5], [2, 2]);
    assert.deepEqual([...await a.read()], [1, 2, 3, 4.5]);
    using b = Tensor.from(gpu, [-1, 7, 3], [3], "i32");
    assert.deepEqual([...await b.read()], [-1, 7, 3]);
    using c = Tensor.from(gpu, [4294967295, 0], [2], "u32");
    assert.deepEqual([...await c.read()], [4294967295, 0]);
  });
  await t.step({
    name: "f16 when offered",
    ignore: !gpu.features.f16,
    fn: async () => {
      using h = Tensor.from(gpu, [1, 0.5, -2, 65504, 3], [5], "f16");
      assert.deepEqual([...await h.read()], [1, 0.5, -2, 65504, 3]);
    },
  });
  await t.step("reshape shares the buffer and keeps it alive", async () => {
    const a = Tensor.from(gpu, [1, 2, 3, 4, 5, 6], [2, 3]);
    const v = a.reshape([3, -1]);
    assert.deepEqual(v.shape, [3, 2]);
    a.dispose();
    assert.deepEqual([...await v.read()], [1, 2, 3, 4, 5, 6]);
    v.dispose();
  });
  await t.step("clone, zeros", async () => {
    using a = Tensor.from(gpu, [1, 2], [2]);
    using b = a.clone();
    a.write([5, 6]);
    assert.deepEqual([...await b.read()], [1, 2]);
    using z = Tensor.zeros(gpu, [3]);
    assert.deepEqual([...await z.read()], [0, 0, 0]);
  });
  await t.step("shape errors print both shapes", () => {
    using a = Tensor.empty(gpu, [2, 3]);
    assert.throws(
      () => a.reshape([4, 2]),
      (e: Error) => e instanceof ShapeError && /\[2, 3\].*\[4, 2\]/.test(e.message),
    );
    assert.throws(() => a.expectShape([3, 2]), /expected shape \[3, 2\], got \[2, 3\]/);
    assert.throws(() => Tensor.from(gpu, [1, 2], [3]), ShapeError);
  });
  await t.step("steady state allocates nothing new", () => {
    const before = gpu.pool.stats().created;
    for (let i = 0; i < 50; i++) {
      using x = Tensor.empty(gpu, [1000 + (i % 7)]);
      using _y = x.reshape([-1]);
    }
    assert.ok(gpu.pool.stats().created - before <= 1);
  });
  assert.ok(liveTensorCount() >= 0);
});
