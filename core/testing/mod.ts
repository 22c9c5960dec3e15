/**
 * Test helpers shared by every test in the workspace: one GPU per test process, seeded
 * random data, relative errors, NaN poisoning. Tests use `Deno.test` with `t.step` and
 * `node:assert/strict` (JSR's std is not reachable from our CI).
 * @module
 */
import { acquireGpu, type GpuSession } from "../gpu/acquire.ts";
import type { Gpu } from "../gpu/runtime.ts";
import { NoAdapterError } from "../gpu/errors.ts";
import { Tensor } from "../tensor.ts";

let session: Promise<GpuSession | null> | null = null;

/** The test process's GPU (acquired once), or null when no adapter exists. */
export function testGpu(): Promise<GpuSession | null> {
  session ??= acquireGpu().catch((e) => {
    if (e instanceof NoAdapterError) return null;
    throw e;
  });
  return session;
}

/**
 * Registers a GPU test. It is skipped (with a note) when no adapter exists; Dawn's event
 * loop activity is not counted as a leak.
 */
export function gpuTest(name: string, fn: (t: Deno.TestContext, gpu: Gpu) => Promise<void>): void {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const s = await testGpu();
      if (!s) {
        console.warn(`skipped ${name}: no WebGPU adapter`);
        return;
      }
      await fn(t, s.gpu);
      await s.gpu.sync();
    },
  });
}

/** A small, fast, seedable PRNG (mulberry32), for reproducible random test data. */
export class Rng {
  #s: number;
  constructor(readonly seed: number) {
    this.#s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  /** Standard normal (Box–Muller). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  /** Array of n normals scaled by `scale`. */
  normals(n: number, scale = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * scale;
    return out;
  }
  /** Array of n uniform values in [lo, hi). */
  uniforms(n: number, lo = -1, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.next();
    return out;
  }
}

/** A fresh seed per run (printed by `assertClose` on failure), or BLOCKDIFF_SEED to replay. */
export function freshSeed(): number {
  const env = Deno.env.get("BLOCKDIFF_SEED");
  return env ? Number(env) : Math.floor(Math.random() * 2 ** 31);
}

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
