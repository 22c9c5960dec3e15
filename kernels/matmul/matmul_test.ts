import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { type Gpu, ShapeError, Tensor } from "@blockdiff/core";
import { matmul, matmulNaive, type MatmulVariant, matmulVariantFor } from "./matmul.ts";
import { matmulRef, type MatmulRefArgs } from "./matmul_ref.ts";

const VARIANTS: MatmulVariant[] = ["subgroup", "tiled", "gemv", "naive"];

// Relative error of f32 sums of K products of N(0, 1) values grows roughly like √K·2⁻²⁴;
// for the K ≤ 300 used here that is ≤ 1e-6, so 1e-5 leaves margin without hiding bugs
// (a missed or doubled term gives errors near 1/√K ≥ 0.05).
const TOL = 1e-5;

// Each (variant, transA, transB, bias, gelu) is a separate pipeline, and compiling is the
// slow part on a CPU driver, so every trans combination gets one fixed epilogue: together
// they still cover bias alone, GELU alone, both and neither.
const COMBOS = [
  { transA: false, transB: false, bias: false, gelu: false },
  { transA: false, transB: true, bias: true, gelu: true },
  { transA: true, transB: false, bias: true, gelu: false },
  { transA: true, transB: true, bias: false, gelu: true },
];

interface Case extends Omit<MatmulRefArgs, "bias"> {
  bias: boolean;
  variant?: MatmulVariant;
  maxBindingBytes?: number;
}

/** Runs one case on the GPU into a NaN-poisoned output and returns its relative error. */
async function check(gpu: Gpu, rng: Rng, seed: number, c: Case): Promise<number> {
  const { batch, m, n, k } = c;
  const as = rng.normals(batch * m * k);
  const bs = rng.normals((c.batchedB ? batch : 1) * k * n);
  const biasV = c.bias ? rng.normals(n) : null;
  const bInner = c.transB ? [n, k] : [k, n];
  using a = Tensor.from(gpu, as, c.transA ? [batch, k, m] : [batch, m, k]);
  using b = Tensor.from(gpu, bs, c.batchedB ? [batch, ...bInner] : bInner);
  using bias = biasV ? Tensor.from(gpu, biasV, [n]) : null;
  using out = poisoned(gpu, [batch, m, n]);
  const opts = {
    transA: c.transA,
    transB: c.transB,
    bias,
    gelu: c.gelu,
    out,
    variant: c.variant,
    maxBindingBytes: c.maxBindingBytes,
  };
  matmul(a, b, opts);
  const want = matmulRef(as, bs, { ...c, bias: biasV });
  // The GELU epilogue adds exp()'s error, which WGSL bounds only loosely: SwiftShader's shows
  // up as ~1.2e-5 on a lone element, so GELU cases get 5e-5.
  return assertClose(
    await out.readFloat(),
    want,
    c.gelu ? 5 * TOL : TOL,
    `matmul ${JSON.stringify(c)}`,
    seed,
  );
}

/** The subgroup variant needs subgroups of at least 8 lanes (SwiftShader has 4). */
function runs(gpu: Gpu, variant: MatmulVariant): boolean {
  return variant !== "subgroup" || (gpu.features.subgroups && gpu.info.subgroupMinSize >= 8);
}

gpuTest("matmul: every variant against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const worst: Record<string, number> = {};
  for (const variant of VARIANTS) {
    if (!runs(gpu, variant)) continue;
    await t.step(variant, async () => {
      worst[variant] = 0;
      for (const combo of COMBOS) {
        // Degenerate sizes, then sizes off every tile (16, 64, 8·8, 4) and random ones.
        const shapes = [[1, 1, 1, 1], [1, 5, 9, 1], [2, 17, 70, 33], [1, 65, 67, 130]];
        shapes.push([rng.int(1, 3), rng.int(1, 40), rng.int(1, 150), rng.int(1, 100)]);
        for (const [batch, m, n, k] of shapes) {
          const c: Case = { batch, m, n, k, ...combo, variant, batchedB: rng.next() < 0.5 };
          worst[variant] = Math.max(worst[variant], await check(gpu, rng, seed, c));
        }
      }
    });
  }
  console.log(`worst relative errors ${JSON.stringify(worst)} (seed ${seed})`);
});

gpuTest("matmul: the default variant, matmulNaive and Linear-layer shapes", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  await t.step("auto variant at M = 1, 3, 37", async () => {
    for (const m of [1, 3, 37]) {
      await check(gpu, rng, seed, {
        batch: 2,
        m,
        n: 45,
        k: 19,
        transB: true,
        bias: true,
        gelu: true,
      });
    }
    assert.equal(matmulVariantFor(gpu, 1), "gemv");
  });
  await t.step("matmulNaive matches matmul", async () => {
    const as = rng.normals(7 * 11), bs = rng.normals(11 * 13);
    using a = Tensor.from(gpu, as, [7, 11]);
    using b = Tensor.from(gpu, bs, [11, 13]);
    using x = matmulNaive(a, b);
    using y = matmul(a, b);
    assertClose(await x.readFloat(), await y.readFloat(), TOL, "naive vs default", seed);
  });
  await t.step("rank-4 A with a shared 2-D B", async () => {
    const as = rng.normals(2 * 3 * 5 * 6), bs = rng.normals(4 * 6);
    using a = Tensor.from(gpu, as, [2, 3, 5, 6]);
    using b = Tensor.from(gpu, bs, [4, 6]);
    using out = matmul(a, b, { transB: true });
    assert.deepEqual(out.shape, [2, 3, 5, 4]);
    const want = matmulRef(as, bs, { batch: 6, m: 5, n: 4, k: 6, transB: true });
    assertClose(await out.readFloat(), want, TOL, "rank-4", seed);
  });
});

gpuTest("matmul: B larger than one binding is split along N", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  // K = 37: rows of 148 bytes, so chunks are multiples of 64 rows (256-byte aligned offsets);
  // a 20000-byte fake limit gives chunks of 128, 128 and a ragged 44 columns.
  for (const variant of VARIANTS) {
    if (!runs(gpu, variant)) continue;
    await t.step(variant, async () => {
      await check(gpu, rng, seed, {
        batch: 2,
        m: 5,
        n: 300,
        k: 37,
        transB: true,
        bias: true,
        gelu: true,
        variant,
        maxBindingBytes: 20000,
      });
    });
  }
  await t.step("clear errors when B cannot be split", () => {
    using a = Tensor.zeros(gpu, [1, 5]);
    using b = Tensor.zeros(gpu, [5, 700]);
    assert.throws(() => matmul(a, b, { maxBindingBytes: 4096 }), /only a 2-D B used transposed/);
    // 64 rows of 20 bytes (the smallest aligned chunk) do not fit 1000 bytes.
    using w = Tensor.zeros(gpu, [100, 5]);
    assert.throws(() => matmul(a, w, { transB: true, maxBindingBytes: 1000 }), /cannot be split/);
  });
});

gpuTest("matmul: shape errors name both shapes", (_t, gpu) => {
  using a = Tensor.zeros(gpu, [2, 3, 4]);
  using b = Tensor.zeros(gpu, [5, 6]);
  using b3 = Tensor.zeros(gpu, [3, 4, 6]);
  using v = Tensor.zeros(gpu, [4]);
  const both = /\[2, 3, 4\].*\[5, 6\]/;
  assert.throws(() => matmul(a, b), (e) => e instanceof ShapeError && both.test(e.message));
  assert.throws(
    () => matmul(a, b3),
    (e) => e instanceof ShapeError && /batch dims/.test(e.message),
  );
  assert.throws(() => matmul(a, v), ShapeError);
  using w = Tensor.zeros(gpu, [4, 6]);
  using badBias = Tensor.zeros(gpu, [5]);
  assert.throws(() => matmul(a, w, { bias: badBias }), ShapeError);
  using badOut = Tensor.zeros(gpu, [2, 3, 5]);
  assert.throws(() => matmul(a, w, { out: badOut }), ShapeError);
  return Promise.resolve();
});
