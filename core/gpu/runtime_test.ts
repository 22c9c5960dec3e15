import assert from "node:assert/strict";
import { gpuTest, testSession } from "../testing/mod.ts";
import { KernelError, ShapeError } from "./errors.ts";
import { assembleWgsl } from "./runtime.ts";
import { grid1d, Uniforms } from "./launch.ts";
import { bucketSize } from "./pool.ts";
import { Tensor } from "../tensor.ts";
import { getWaitPolicy, settle, setWaitPolicy } from "./wait.ts";

Deno.test("assembleWgsl keeps directives first and emits params as consts", () => {
  const code = assembleWgsl({
    name: "k",
    code: "enable f16;\n@compute @workgroup_size(WG) fn main() {}",
    params: { WG: 64, FLAG: true, SCALE: 0.5 },
    bindings: [],
  });
  const lines = code.split("\n");
  assert.equal(lines[0], "enable f16;");
  assert.ok(code.includes("const WG = 64;"));
  assert.ok(code.includes("const FLAG = true;"));
  assert.ok(code.includes("const SCALE = 5e-1;"));
});

Deno.test("grid1d spreads large grids over y and keeps small ones flat", () => {
  assert.deepEqual(grid1d(1000, 256), [4, 1]);
  const [x, y] = grid1d(70000 * 256, 256);
  assert.ok(x <= 65535 && x * y >= 70000);
});

Deno.test("bucketSize: 256-byte steps, then at most 25 % slack", () => {
  assert.equal(bucketSize(1), 256);
  assert.equal(bucketSize(300), 512);
  for (const n of [5000, 123457, 9_999_999]) {
    const b = bucketSize(n);
    assert.ok(b >= n && b <= n * 1.25 + 256, `${n} → ${b}`);
  }
});

Deno.test("Uniforms pack u32/i32/f32 little-endian, padded to 16 bytes", () => {
  const b = new Uniforms().u32(7).i32(-1).f32(1.5).bytes();
  assert.equal(b.byteLength, 16);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.equal(v.getUint32(0, true), 7);
  assert.equal(v.getInt32(4, true), -1);
  assert.equal(v.getFloat32(8, true), 1.5);
});

gpuTest("runtime: compile errors name the kernel and its parameters", async (t, gpu) => {
  await t.step("a WGSL syntax error becomes a KernelError", async () => {
    await assert.rejects(
      gpu.compile({ name: "broken", code: "fn main( {", params: { N: 3 }, bindings: [] }),
      (e: Error) =>
        e instanceof KernelError && /broken\(N=3\)/.test(e.message) && /line/.test(e.message),
    );
  });
  await t.step("a good kernel compiles once and is cached", async () => {
    const spec = {
      name: "fill",
      code: `@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < arrayLength(&o)) { o[g.x] = f32(g.x) * SCALE; }
}`,
      params: { SCALE: 2 },
      bindings: ["write"] as const,
    };
    const k1 = await gpu.compile(spec);
    assert.equal(gpu.kernel(spec), k1);
    using out = Tensor.empty(gpu, [100]);
    const before = gpu.counters.submissions;
    for (let i = 0; i < 5; i++) gpu.dispatch(k1, [out], null, [2]);
    const got = await out.read();
    assert.equal(gpu.counters.submissions - before, 1, "five dispatches share one submission");
    assert.equal(got[99], 198);
  });
  await t.step("wrong resource count is refused before the GPU sees it", () => {
    const k = gpu.kernel({
      name: "two",
      code: `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(1) fn main() { o[0] = a[0]; }`,
      bindings: ["read", "write"],
    });
    using a = Tensor.empty(gpu, [1]);
    assert.throws(() => gpu.dispatch(k, [a], null, [1]), /two\(\): missing resource for binding 1/);
  });
  await t.step("a binding over the adapter's limit is one ShapeError, not a Dawn dump", () => {
    const k = gpu.kernel({
      name: "big",
      code: `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(1) fn main() { o[0] = a[0]; }`,
      bindings: ["read", "write"],
    });
    const limit = gpu.device.limits.maxStorageBufferBindingSize;
    // Only the binding's declared size is checked; no buffer that large is allocated.
    using a = Tensor.empty(gpu, [4]);
    using o = Tensor.empty(gpu, [1]);
    const over = { buffer: a.buffer, offset: 0, size: limit + 4 };
    assert.throws(
      () => gpu.dispatch(k, [over, o], null, [1]),
      (e: unknown) =>
        e instanceof ShapeError && e.exitCode === 2 &&
        /big\(\): a \d+-byte tensor exceeds this adapter's \d+-byte storage binding limit/.test(
          e.message,
        ) && !e.message.includes("\n"),
    );
  });
  await t.step(
    "a validation error surfaces at the next sync with the batch's kernels",
    async () => {
      const k = gpu.kernel({
        name: "aliased",
        code: `@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(1) fn main() { o[0] = a[0]; }`,
        bindings: ["read", "write"],
      });
      using a = Tensor.empty(gpu, [4]);
      gpu.dispatch(k, [a, a], null, [1]); // read-only and writable binding of one buffer
      await assert.rejects(
        gpu.sync(),
        (e: Error) => e instanceof KernelError && /aliased/.test(e.message),
      );
    },
  );
});

gpuTest("wait policy: hybrid and spin both settle GPU promises", async (_t, gpu) => {
  const before = getWaitPolicy();
  for (const p of ["spin", "hybrid"] as const) {
    setWaitPolicy(p);
    using x = Tensor.from(gpu, [1, 2, 3], [3]);
    assert.deepEqual([...await x.read()], [1, 2, 3]);
    await settle(gpu.device.queue.onSubmittedWorkDone());
  }
  setWaitPolicy(before);
});

gpuTest(
  "Gpu.profile times every dispatch by kernel label; results are unchanged",
  async (_t, gpu) => {
    const spec = (name: string) => ({
      name,
      code: `@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x < arrayLength(&x)) { x[g.x] = x[g.x] * 2.0 + 1.0; }
}`,
      bindings: ["write" as const],
    });
    using t = Tensor.from(gpu, new Float32Array(1000).fill(1), [1000]);
    const a = await gpu.compile(spec("double_a")), b = await gpu.compile(spec("double_b"));
    const prof = gpu.profile();
    assert.throws(() => gpu.profile(), /already running/);
    for (let i = 0; i < 3; i++) gpu.dispatch(a, [t], null, grid1d(1000, 64));
    gpu.dispatch(b, [t], null, grid1d(1000, 64));
    const times = await prof.stop();
    assert.deepEqual(times.map((x) => [x.label, x.count]).sort(), [["double_a()", 3], [
      "double_b()",
      1,
    ]]);
    assert.ok(times.every((x) => x.ms >= 0 && Number.isFinite(x.ms)));
    // ((((1·2+1)·2+1)·2+1)·2+1) = 31: the work ran once each, in order.
    assert.equal((await t.readFloat())[0], 31);
  },
  // Ignored (not passed) where the adapter has no timestamp-query.
  { ignore: !testSession?.gpu.features.timestampQuery },
);
