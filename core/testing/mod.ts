/**
 * Test helpers shared by every test in the workspace: one GPU per test process (acquired when
 * this module loads, so only tests and their fixtures import it), seeded random data, relative
 * errors, NaN poisoning. Tests use `Deno.test` with `t.step` and
 * `node:assert/strict` (JSR's std is not reachable from our CI).
 * @module
 */
import { acquireGpu, type GpuSession } from "../gpu/acquire.ts";
import type { Gpu } from "../gpu/runtime.ts";
import { NoAdapterError } from "../gpu/errors.ts";
import { Tensor } from "../tensor.ts";
// Types these helpers take or return (`Gpu`, `Tensor`, `GpuSession`), so that the
// documentation is whole.
export type * from "../deno_entry.ts";

/**
 * The test process's GPU, acquired once when this module loads (before any test is
 * registered, so `gpuTest` can mark its tests ignored where there is none), or null when no
 * adapter exists.
 */
export const testSession: GpuSession | null = await acquireGpu().catch((e) => {
  if (e instanceof NoAdapterError) return null;
  throw e;
});

/** Whether this machine has a WebGPU adapter, for `Deno.test({ ignore: !hasGpu })`. */
export const hasGpu: boolean = testSession !== null;

/** Options of {@link gpuTest}. */
export interface GpuTestOptions {
  /**
   * Ignore the test (reported as ignored, not passed) where this is true, e.g. when an
   * optional feature is missing: `{ ignore: !testSession?.gpu.features.timestampQuery }`.
   */
  ignore?: boolean;
}

/**
 * Registers a GPU test, reported as ignored when no adapter exists; Dawn's event loop
 * activity is not counted as a leak.
 */
export function gpuTest(
  name: string,
  fn: (t: Deno.TestContext, gpu: Gpu) => Promise<void>,
  options: GpuTestOptions = {},
): void {
  Deno.test({
    name,
    ignore: !testSession || options.ignore === true,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const gpu = testSession!.gpu;
      await fn(t, gpu);
      await gpu.sync();
    },
  });
}

export { Rng } from "../random.ts";
export { freshSeed } from "../seed.ts";

/**
 * ||a − b|| / ||b|| over all elements (0 when both are zero); NaN anywhere gives Infinity.
 * `floor` is a smallest typical magnitude per element: the norm divided by is at least
 * floor·√n, so a few outputs that happen to be tiny (a GELU deep in its negative tail, a
 * near-cancelled sum) are judged by their absolute error at the data's scale.
 */
export function relativeError(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  floor = 0,
): number {
  if (actual.length !== expected.length) {
    throw new Error(`length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let num = 0;
  let den = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(a) || Number.isNaN(e)) return Infinity;
    num += (a - e) ** 2;
    den += e * e;
  }
  den = Math.max(den, floor * floor * actual.length);
  if (den === 0) return Math.sqrt(num);
  return Math.sqrt(num / den);
}

/**
 * Asserts ||actual − expected|| / ||expected|| < tol, and reports the error, the seed to
 * replay and the first differing element when it fails.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
  seed?: number,
  opts: { floor?: number } = {},
): number {
  const err = relativeError(actual, expected, opts.floor ?? 0);
  if (!(err < tol)) {
    let worst = 0;
    let at = 0;
    for (let i = 0; i < expected.length; i++) {
      const d = Number.isNaN(actual[i]) ? Infinity : Math.abs(actual[i] - expected[i]);
      if (d > worst) {
        worst = d;
        at = i;
      }
    }
    throw new Error(
      `${what}: relative error ${err.toExponential(3)} ≥ ${tol} (seed ${seed ?? "n/a"}; ` +
        `worst at [${at}]: got ${actual[at]}, want ${
          expected[at]
        }). Replay: BLOCKDIFF_SEED=${seed}`,
    );
  }
  return err;
}

/** An output tensor pre-filled with NaN, so an element the kernel never writes fails the test. */
export function poisoned(gpu: Gpu, shape: readonly number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(gpu, new Float32Array(n).fill(NaN), shape);
}

/** An integer output tensor pre-filled with a sentinel, for the same purpose. */
export function poisonedInt(
  gpu: Gpu,
  shape: readonly number[],
  dtype: "i32" | "u32" = "i32",
): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(
    gpu,
    new Array(n).fill(dtype === "i32" ? -123456789 : 0xdeadbeef),
    shape,
    dtype,
  );
}
