import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { decodeHalf, encodeHalf, type Gpu, ShapeError, Tensor } from "@blockdiff/core";
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
  // The GELU epilogue adds tanh()'s error, which WGSL bounds only loosely and absolutely
  // (SwiftShader ~1.2e-5, lavapipe up to ~1e-7 absolute near 0): GELU cases get 5e-5, measured
  // against values shifted by 1 so a lone output near zero is judged by its absolute error.
  const got = await out.readFloat();
  if (c.gelu) {
    return assertClose(
      got.map((v) => v + 1),
      want.map((v) => v + 1),
      5 * TOL,
      `matmul ${JSON.stringify(c)} (GELU, shifted by 1)`,
      seed,
    );
  }
  return assertClose(got, want, TOL, `matmul ${JSON.stringify(c)}`, seed);
}

/** The subgroup variant needs subgroups of at least 8 lanes (SwiftShader has 4). */
function runs(gpu: Gpu, variant: MatmulVariant): boolean {
  if (variant === "rowdot-subgroup") return gpu.features.subgroups;
  return variant !== "subgroup" || (gpu.features.subgroups && gpu.info.subgroupMinSize >= 8);
}

gpuTest(
  "matmul: the row-dot GEMV variants (A·Bᵀ, K % 4 = 0) against the float64 reference",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    const worst: Record<string, number> = {};
    for (const variant of ["rowdot", "rowdot-subgroup"] as MatmulVariant[]) {
      // A variant this adapter cannot run is reported as ignored, not passed.
      await t.step({
        name: variant,
        ignore: !runs(gpu, variant),
        fn: async () => {
          worst[variant] = 0;
          // M = 1, 2, 4 use 1, 2 and 4 rows per invocation; M = 3 and 9 have ragged row groups.
          const shapes = [[1, 1, 1, 4], [1, 2, 65, 8], [2, 3, 130, 36], [1, 4, 67, 260], [
            2,
            9,
            33,
            12,
          ]];
          shapes.push([rng.int(1, 3), rng.int(1, 5), rng.int(1, 200), 4 * rng.int(1, 80)]);
          for (const [i, [batch, m, n, k]] of shapes.entries()) {
            const c: Case = {
              batch,
              m,
              n,
              k,
              transA: false,
              transB: true,
              bias: i % 2 === 0,
              gelu: i % 3 === 1,
              variant,
              batchedB: rng.next() < 0.5,
            };
            worst[variant] = Math.max(worst[variant], await check(gpu, rng, seed, c));
          }
          // f16 weights (inference): against the float64 product of the f16-rounded weights, so
          // only the kernel's own f32 arithmetic is measured; a split along N too (K = 36 f16:
          // 72-byte rows, 32-column chunks).
          if (gpu.features.f16) {
            for (
              const [batch, m, n, k, limit] of [[1, 3, 70, 12, 0], [2, 1, 33, 36, 0], [
                1,
                4,
                300,
                36,
                8000,
              ]]
            ) {
              const as = rng.normals(batch * m * k), bs = rng.normals(n * k);
              const rounded = decodeHalf(encodeHalf(bs));
              using a = Tensor.from(gpu, as, [batch, m, k]);
              using b16 = Tensor.from(gpu, bs, [n, k], "f16");
              using out = poisoned(gpu, [batch, m, n]);
              matmul(a, b16, { transB: true, variant, out, maxBindingBytes: limit || undefined });
              const want = matmulRef(as, rounded, { batch, m, n, k, transB: true });
              worst[variant] = Math.max(
                worst[variant],
                assertClose(await out.readFloat(), want, TOL, `${variant} f16 B`, seed),
              );
            }
          }
          // A weight larger than one binding, split along N (K = 36: 64-column chunks).
          const split: Case = {
            batch: 1,
            m: 3,
            n: 300,
            k: 36,
            transB: true,
            bias: true,
            gelu: false,
            variant,
            maxBindingBytes: 20000,
          };
          worst[variant] = Math.max(worst[variant], await check(gpu, rng, seed, split));
          assert.throws(
            () =>
              matmul(Tensor.zeros(gpu, [2, 6]), Tensor.zeros(gpu, [5, 6]), {
                transB: true,
                variant,
              }),
            /K a multiple of 4/,
          );
        },
      });
    }
    console.log(`worst relative errors ${JSON.stringify(worst)} (seed ${seed})`);
  },
);

gpuTest("matmul: every variant against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const worst: Record<string, number> = {};
  for (const variant of VARIANTS) {
    // A variant this adapter cannot run is reported as ignored, not passed.
    await t.step({
      name: variant,
      ignore: !runs(gpu, variant),
      fn: async () => {
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
      },
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
      // A Linear layer with K % 4 = 0: the row-dot kernel at small M.
      await check(gpu, rng, seed, {
        batch: 1,
        m,
        n: 45,
        k: 20,
        transB: true,
        bias: true,
        gelu: false,
      });
    }
    assert.equal(matmulVariantFor(gpu, 1), "gemv");
    const linear = matmulVariantFor(gpu, 4, { transB: true, k: 256 });
    assert.equal(
      linear,
      gpu.features.subgroups && !gpu.info.isSoftware ? "rowdot-subgroup" : "rowdot",
    );
    assert.equal(matmulVariantFor(gpu, 4, { transB: true, k: 255 }), "gemv");
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
    // A variant this adapter cannot run is reported as ignored, not passed.
    await t.step({
      name: variant,
      ignore: !runs(gpu, variant),
      fn: async () => {
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
      },
    });
  }
  await t.step("clear errors when B cannot be split", () => {
    using a = Tensor.zeros(gpu, [1, 5]);
    using b = Tensor.zeros(gpu, [5, 700]);
    assert.throws(() => matmul(a, b, { maxBindingBytes: 4096 }), /only a transposed B \(\[N, K\]/);
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
