import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { type Gpu, ShapeError, Tensor } from "@blockdiff/core";
import { seddLoss, seddLossBackward } from "./sedd_loss.ts";
import { seddLossBackwardRef, seddLossRef, type SeddRefInputs } from "./sedd_loss_ref.ts";
import { finiteDifferenceError, sampleIndices } from "../_finite_diff.ts";

// Every term of the kernel's loss is non-negative (see sedd_loss.wgsl), so the f32 result carries
// only the rounding of exp (a few ulp) and of the per-lane sums plus tree (≲ 1e-6 at V = 50258).
const TOL = 1e-5;

/** SeddRefInputs with concrete arrays. */
interface Problem extends SeddRefInputs {
  logits: Float32Array;
  xt: Int32Array;
  x0: Int32Array;
  sigma: Float32Array;
  dsigma: Float32Array;
}

/** A random problem: σ log-uniform in a range, ~60 % of positions masked, x0 never the mask. */
function problem(
  rng: Rng,
  rows: number,
  n: number,
  groups: number,
  sigmaRange: [number, number],
  scale = 2,
): Problem {
  const maskId = rng.next() < 0.5 ? n - 1 : rng.int(0, n - 1);
  const x0 = Int32Array.from({ length: rows }, () => {
    let id = rng.int(0, n - 1);
    while (id === maskId) id = rng.int(0, n - 1);
    return id;
  });
  const xt = Int32Array.from(x0, (id) => (rng.next() < 0.6 ? maskId : id));
  // dσ = expm1(σ)/t with t = 1 − e^{−σ}.
  const [lo, hi] = sigmaRange;
  const sigma = Float32Array.from(
    { length: groups },
    () => lo * Math.exp(rng.next() * Math.log(hi / lo)),
  );
  const dsigma = Float32Array.from(sigma, (s) => Math.expm1(s) / -Math.expm1(-s));
  return { logits: rng.normals(rows * n, scale), xt, x0, sigma, dsigma, n, maskId };
}

function upload(gpu: Gpu, p: SeddRefInputs) {
  const rows = p.xt.length;
  return {
    logits: Tensor.from(gpu, p.logits, [rows, p.n]),
    xt: Tensor.from(gpu, p.xt, [rows], "i32"),
    x0: Tensor.from(gpu, p.x0, [rows], "i32"),
    sigma: Tensor.from(gpu, p.sigma, [p.sigma.length]),
    dsigma: Tensor.from(gpu, p.dsigma, [p.dsigma.length]),
    maskId: p.maskId,
    [Symbol.dispose]() {
      for (const t of [this.logits, this.xt, this.x0, this.sigma, this.dsigma]) t.dispose();
    },
  };
}

gpuTest("seddLoss and backward: against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const cases: [number, number, number, [number, number]][] = [
    // [rows, V, σ groups, σ range]
    [1, 2, 1, [0.1, 1]],
    [7, 9, 7, [1e-3, 6.9]],
    [12, 255, 3, [1e-3, 6.9]],
    [6, 257, 2, [1e-4, 1e-2]], // small σ: q ≈ 1/σ, the series branch
    [5, 300, 5, [8, 30]], // large σ: q = e^{−σ}/(1 − e^{−σ}) underflows gracefully
    [4, 50258, 1, [1e-3, 6.9]],
  ];
  for (const [rows, n, groups, range] of cases) {
    await t.step(`rows=${rows} V=${n} groups=${groups} σ∈[${range}]`, async () => {
      const p = problem(rng, rows, n, groups, range);
      const ws = rng.uniforms(rows, 0.1, 2);
      using g = upload(gpu, p);
      using w = Tensor.from(gpu, ws, [rows]);
      using loss = poisoned(gpu, [rows]);
      seddLoss(g.logits, g, { out: loss });
      const got = await loss.readFloat();
      const e1 = assertClose(got, seddLossRef(p), TOL, "loss", seed);
      p.xt.forEach((id, r) => id !== p.maskId && assert.equal(got[r], 0, "unmasked row"));

      using dl = poisoned(gpu, [rows, n]);
      seddLossBackward(g.logits, g, w, { out: dl });
      const want = seddLossBackwardRef(p, ws);
      const e2 = assertClose(await dl.readFloat(), want, TOL, "dlogits", seed);
      seddLossBackward(g.logits, g, w, { out: g.logits }); // in place
      assertClose(await g.logits.readFloat(), want, TOL, "dlogits in place", seed);
      console.log(`  loss ${e1.toExponential(2)}, dlogits ${e2.toExponential(2)}`);
    });
  }
});

gpuTest(
  "seddLoss: a confident model's small losses keep their relative accuracy",
  async (_t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    const [rows, n] = [16, 1000];
    const p = problem(rng, rows, n, rows, [1e-3, 6.9], 1);
    p.xt = new Int32Array(rows).fill(p.maskId);
    // Logits: x0 near ln(V − 1) (score ≈ q), the rest very unlikely, so ℓ ≪ q and the definition's
    // terms (each ~q) cancel to a few parts in 1e3–1e6.
    const logits = new Float32Array(rows * n);
    for (let r = 0; r < rows; r++) {
      for (let v = 0; v < n; v++) {
        logits[r * n + v] = v === p.x0[r]
          ? Math.log(n - 1) + 0.01 * rng.normal()
          : -12 + rng.normal();
      }
    }
    p.logits = logits;
    using g = upload(gpu, p);
    using w = Tensor.from(gpu, new Float32Array(rows).fill(1), [rows]);
    const got = await seddLoss(g.logits, g).readFloat();
    const want = seddLossRef(p);
    const grad = await seddLossBackward(g.logits, g, w).readFloat();
    const wantGrad = seddLossBackwardRef(p, new Float64Array(rows).fill(1));
    let worst = 0;
    for (let r = 0; r < rows; r++) {
      // Per element, not normwise: each small loss, and the small gradient e^u − 1 at x0, must
      // be accurate on its own.
      const at = r * n + p.x0[r];
      worst = Math.max(worst, assertClose([got[r]], [want[r]], 1e-5, `loss[${r}]`, seed));
      worst = Math.max(worst, assertClose([grad[at]], [wantGrad[at]], 1e-5, "dl at x0", seed));
    }
    console.log(`  worst per-element relative error ${worst.toExponential(2)}`);
  },
);

gpuTest("seddLoss: x0 = mask and x0 out of range", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const n = 11;
  const p = problem(rng, 3, n, 1, [0.3, 0.3]);
  p.xt = Int32Array.from([p.maskId, p.maskId, p.maskId]);
  p.x0 = Int32Array.from([p.maskId, n, 2 === p.maskId ? 3 : 2]);
  using g = upload(gpu, p);
  using w = Tensor.from(gpu, [1, 1, 1], [3]);
  const got = await seddLoss(g.logits, g).readFloat();
  const want = seddLossRef(p);
  assert.ok(Number.isNaN(got[1]), "x0 ≥ V must give NaN");
  assertClose([got[0], got[2]], [want[0], want[2]], TOL, "x0 = mask", seed);
  const d = await seddLossBackward(g.logits, g, w).readFloat();
  const wd = seddLossBackwardRef(p, [1, 1, 1]);
  assert.ok(d.subarray(n, 2 * n).every((v, i) => i === p.maskId ? v === 0 : Number.isNaN(v)));
  assertClose(d.subarray(0, n), wd.subarray(0, n), TOL, "dlogits, x0 = mask", seed);
});

Deno.test("seddLossBackwardRef: matches central differences of seddLossRef", async (t) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const cases: [number, number, [number, number]][] = [
    [6, 7, [0.1, 3]],
    [5, 40, [1e-3, 6.9]],
    [4, 200, [1e-3, 1e-2]],
  ];
  for (const [rows, n, range] of cases) {
    await t.step(`rows=${rows} V=${n} σ∈[${range}]`, () => {
      const p = problem(rng, rows, n, rows, range);
      const ws = Float64Array.from(rng.uniforms(rows, -1, 1));
      const xs = Float64Array.from(p.logits);
      const f = (x: Float64Array) =>
        seddLossRef({ ...p, logits: x }).reduce((s, l, r) => s + ws[r] * l, 0);
      const grad = seddLossBackwardRef({ ...p, logits: xs }, ws);
      const onTargets = [...p.x0].map((id, r) => r * n + id);
      const idx = sampleIndices(rng, rows * n, 48, onTargets);
      const err = finiteDifferenceError(f, xs, grad, idx);
      console.log(`  finite-difference error ${err.toExponential(2)}`);
      assert.ok(err < 1e-6, `finite-difference error ${err} (seed ${seed})`);
    });
  }
});

gpuTest("seddLoss: shape and argument errors", (_t, gpu) => {
  using logits = Tensor.zeros(gpu, [2, 3, 5]);
  using ids = Tensor.zeros(gpu, [2, 3], "i32");
  using s2 = Tensor.zeros(gpu, [2]);
  using s4 = Tensor.zeros(gpu, [4]);
  using w = Tensor.zeros(gpu, [2, 3]);
  const ok = { xt: ids, x0: ids, sigma: s2, dsigma: s2, maskId: 4 };
  assert.throws(() => seddLoss(logits, { ...ok, sigma: s4, dsigma: s4 }), ShapeError);
  assert.throws(() => seddLoss(logits, { ...ok, dsigma: s4 }), ShapeError);
  assert.throws(() => seddLoss(logits, { ...ok, maskId: 5 }), /maskId/);
  assert.throws(() => seddLoss(logits, { ...ok, x0: w }), /dtype i32/);
  assert.throws(() => seddLossBackward(logits, ok, s2), ShapeError);
  return Promise.resolve();
});
