import { freshSeed, gpuTest, poisonedInt, Rng } from "@blockdiff/core/testing";
import { type Gpu, Tensor } from "@blockdiff/core";
import assert from "node:assert/strict";
import { readSampleDraw, sampleDraw, type SampleDrawOptions } from "./sample_draw.ts";
import { sampleDrawRef, type SampleDrawRefResult } from "./sample_draw_ref.ts";
import { toProbabilities } from "@blockdiff/schedules";

// f32 against float64. prob = e_tok / Z_kept, maxProb = 1/Z and the entropy log1p(Z − 1) + W/Z
// carry a few ulp from x − m, the temperature product, exp and the sums (observed ≲ 1e-6).
const TOL = 1e-5;
// The draw and the nucleus cut compare f32 running sums (relative error ~1e-7 of the row mass)
// with u·Z and topP·Z: a decision closer than this to flipping (in units of the row mass) may
// go either way, and the row's token and prob are then not compared.
const BOUNDARY = 2e-6;
// Entropies below this many nats are compared absolutely (f32 exp underflows past e^−87).
const ENTROPY_FLOOR = 1e-12;

interface Stats {
  rows: number;
  skipped: number;
  prob: number;
  entropy: number;
  maxProb: number;
}

function relErr(a: number, b: number, floor = 0): number {
  if (Number.isNaN(a)) return Infinity;
  return Math.abs(a - b) / Math.max(Math.abs(b), floor);
}

/** Runs sampleDraw on host logits and checks it against the reference; returns the errors. */
async function check(
  gpu: Gpu,
  xs: Float32Array,
  shape: number[],
  us: Float32Array,
  opts: SampleDrawOptions,
  seed: number,
  what: string,
): Promise<{ stats: Stats; ref: SampleDrawRefResult; tokens: Int32Array }> {
  const V = shape[shape.length - 1];
  const R = us.length;
  using x = Tensor.from(gpu, xs, shape);
  using u = Tensor.from(gpu, us, [R]);
  using out = poisonedInt(gpu, [5, R]);
  sampleDraw(x, u, { ...opts, out });
  const got = await readSampleDraw(out);
  const ref = sampleDrawRef(xs, V, us, opts);
  const stats: Stats = { rows: R, skipped: 0, prob: 0, entropy: 0, maxProb: 0 };
  const ctx = (r: number) => `${what} row ${r} (seed ${seed}; replay with BLOCKDIFF_SEED=${seed})`;
  for (let r = 0; r < R; r++) {
    assert.equal(got.argmax[r], ref.argmax[r], `argmax: ${ctx(r)}`);
    stats.entropy = Math.max(
      stats.entropy,
      relErr(got.entropy[r], ref.entropy[r], ENTROPY_FLOOR),
    );
    stats.maxProb = Math.max(stats.maxProb, relErr(got.maxProb[r], ref.maxProb[r]));
    const tok = got.tokens[r];
    assert.ok(tok >= 0 && tok < V, `token ${tok} out of range: ${ctx(r)}`);
    assert.notEqual(tok, opts.maskId ?? -1, `drew the mask id: ${ctx(r)}`);
    // u = 0 draws the first kept id, exactly (its margin is 0, but no sum decides it).
    if (us[r] === 0) assert.equal(tok, ref.tokens[r], `u = 0: ${ctx(r)}`);
    if (Math.min(ref.drawMargin[r], ref.nucleusMargin[r]) < BOUNDARY) {
      stats.skipped++;
      continue;
    }
    assert.equal(
      tok,
      ref.tokens[r],
      `token: ${ctx(r)}, u=${us[r]}, margins ${ref.drawMargin[r]} / ${ref.nucleusMargin[r]}`,
    );
    stats.prob = Math.max(stats.prob, relErr(got.prob[r], ref.prob[r]));
  }
  for (const k of ["prob", "entropy", "maxProb"] as const) {
    assert.ok(stats[k] <= TOL, `${k}: max relative error ${stats[k]} > ${TOL}: ${ctx(-1)}`);
  }
  return { stats, ref, tokens: got.tokens };
}

/**
 * Logits with a spread chosen per row: mild, wide (σ = 8: p spans ~e^±40), peaked on a few ids
 * (+12…18), or mild with a tenth of the ids at −inf.
 */
function randomLogits(rng: Rng, rows: number, V: number): Float32Array {
  const xs = new Float32Array(rows * V);
  for (let r = 0; r < rows; r++) {
    const kind = rng.int(0, 4);
    const scale = [1, 3, 8, 2, 2][kind];
    for (let i = 0; i < V; i++) xs[r * V + i] = rng.normal() * scale;
    if (kind === 3) {
      for (let j = 0; j < 3; j++) xs[r * V + rng.int(0, V - 1)] += 12 + 6 * rng.next();
    }
    if (kind === 4) {
      // Two ids stay finite, so one outside the mask does.
      const keep = rng.int(0, V - 1);
      for (let i = 0; i < V; i++) {
        const kept = i === keep || i === (keep + 1) % V;
        if (!kept && rng.next() < 0.1) xs[r * V + i] = -Infinity;
      }
    }
  }
  return xs;
}

function fmt(s: Stats): string {
  const e = (v: number) => v.toExponential(1);
  return `prob ${e(s.prob)}, entropy ${e(s.entropy)}, maxProb ${e(s.maxProb)}, ` +
    `${s.skipped}/${s.rows} rows at a boundary`;
}

gpuTest("sampleDraw: random rows against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const vocabs = [2, 3, 255, 257, 1000, 3001];
  for (let c = 0; c < 12; c++) {
    const R = rng.int(1, 37);
    const V = c === 11 ? 50258 : vocabs[c % vocabs.length] + (c >= 6 ? rng.int(0, 4000) : 0);
    const topP = [1, 0.9, 0.5][c % 3];
    const maskId = c % 4 === 3 ? -1 : rng.int(0, V - 1);
    const temperature = [1, 1, 0.7, 1.6][c % 4];
    await t.step(`R=${R} V=${V} topP=${topP} maskId=${maskId} T=${temperature}`, async () => {
      const xs = randomLogits(rng, R, V);
      const us = rng.uniforms(R, 0, 1);
      us[0] = 0; // the extremes of [0, 1): the first kept id, and (near) the last
      if (R > 1) us[R - 1] = 1 - 2 ** -24;
      const opts = { topP, maskId, temperature };
      const { stats } = await check(gpu, xs, [R, V], us, opts, seed, `case ${c}`);
      console.log(`  R=${R} V=${V} topP=${topP}: ${fmt(stats)}`);
    });
  }
});

gpuTest("sampleDraw: a window of rows of [B, S, V] logits", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [B, S, V, first, count] = [3, 7, 301, 4, 3];
  const xs = randomLogits(rng, B * S, V);
  const us = rng.uniforms(B * count, 0, 1);
  const opts = { topP: 0.9, maskId: V - 1, rows: { seq: S, first, count } };
  const { stats } = await check(gpu, xs, [B, S, V], us, opts, seed, "window");
  console.log(`  ${fmt(stats)}`);
});

gpuTest("sampleDraw: exact ties at the nucleus cut keep the lowest ids", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  // [V, levels, topP]: logits drawn from {0, …, levels − 1}, so every value is shared by many
  // ids and the cut falls inside a group of equal probabilities. One level: 1001 equal ids
  // (one is the mask), of which the nucleus keeps the 500 lowest, or only the lowest when
  // topP < 1/1001. Groups of ≤ 256 copies are settled by the gather step, larger ones by the
  // search down to adjacent bit patterns.
  const cases = [[1002, 1, 0.5], [1002, 1, 0.0004], [700, 3, 0.9], [513, 3, 0.3], [97, 2, 0.05], [
    6000,
    2,
    0.7,
  ]];
  for (const [V, levels, topP] of cases) {
    await t.step(`V=${V} levels=${levels} topP=${topP}`, async () => {
      const R = 33;
      const xs = new Float32Array(R * V);
      for (let i = 0; i < xs.length; i++) xs[i] = rng.int(0, levels - 1);
      const us = rng.uniforms(R, 0, 1);
      const maskId = rng.int(0, V - 1);
      const opts = { topP, maskId };
      const { stats, tokens } = await check(gpu, xs, [R, V], us, opts, seed, "ties");
      assert.ok(stats.skipped < R / 2, `${stats.skipped} of ${R} rows at a boundary`);
      if (levels === 1) {
        // The kept ids are the lowest non-mask ones, in order: token = kept[⌊u·kept⌋].
        const keep = topP < 1 / (V - 1) ? 1 : Math.floor(topP * (V - 1));
        const ids = [...Array(V).keys()].filter((i) => i !== maskId).slice(0, keep);
        for (let r = 0; r < R; r++) assert.equal(tokens[r], ids[Math.floor(us[r] * keep)]);
      }
      console.log(`  ${fmt(stats)}`);
    });
  }
});

gpuTest("sampleDraw: temperature 0 is the arg-max", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [R, V] = [5, 777];
  const xs = randomLogits(rng, R, V);
  xs[3 * V + 10] = xs[3 * V + 20] = 1e3; // a tie: the lower id wins
  xs[4 * V + 3] = 2e3; // the mask's logit is the largest: never the arg-max
  const us = rng.uniforms(R, 0, 1);
  const opts = { temperature: 0, maskId: 3, topP: 0.5 };
  const { tokens } = await check(gpu, xs, [R, V], us, opts, seed, "T=0");
  assert.equal(tokens[3], 10);
});

gpuTest("sampleDraw: token histogram matches p (chi-square)", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [V, R] = [300, 4000];
  const row = rng.normals(V, 1.5);
  const xs = new Float32Array(R * V);
  for (let r = 0; r < R; r++) xs.set(row, r * V);
  for (const topP of [1, 0.8]) {
    await t.step(`topP=${topP}`, async () => {
      const opts = { topP, maskId: 7 };
      const us = rng.uniforms(R, 0, 1);
      const { tokens } = await check(gpu, xs, [R, V], us, opts, seed, "histogram");
      const q = toProbabilities(row, 1, V, opts); // the filtered, renormalised p
      const counts = new Float64Array(V);
      for (const tok of tokens) counts[tok]++;
      // Pearson's chi-square over the bins of expected count ≥ 5, the rest merged into one.
      let chi2 = 0;
      let bins = 0;
      let restE = 0;
      let restO = 0;
      for (let i = 0; i < V; i++) {
        const e = R * q[i];
        if (e >= 5) {
          chi2 += (counts[i] - e) ** 2 / e;
          bins++;
        } else {
          restE += e;
          restO += counts[i];
        }
        if (q[i] === 0) assert.equal(counts[i], 0, `id ${i} is outside the nucleus`);
      }
      if (restE > 0) {
        chi2 += (restO - restE) ** 2 / restE;
        bins++;
      }
      // Mean df, sd √(2 df): 6 sd is far out of reach by chance.
      const df = bins - 1;
      const bound = df + 6 * Math.sqrt(2 * df) + 10;
      console.log(`  chi2 ${chi2.toFixed(1)} over ${df} dof (bound ${bound.toFixed(1)})`);
      assert.ok(chi2 < bound, `chi2 ${chi2} ≥ ${bound} (seed ${seed})`);
    });
  }
});

gpuTest("sampleDraw: argument checks", async (_t, gpu) => {
  using x = Tensor.from(gpu, new Float32Array(2 * 3 * 5), [2, 3, 5]);
  using u6 = Tensor.from(gpu, new Float32Array(6), [6]);
  using u4 = Tensor.from(gpu, new Float32Array(4), [4]);
  assert.throws(() => sampleDraw(x, u4), /uniforms/);
  assert.throws(() => sampleDraw(x, u6, { maskId: 5 }), /maskId/);
  assert.throws(() => sampleDraw(x, u6, { topP: 0 }), /topP/);
  assert.throws(() => sampleDraw(x, u6, { temperature: -1 }), /temperature/);
  assert.throws(() => sampleDraw(x, u4, { rows: { seq: 3, first: 2, count: 2 } }), /rows/);
  using out = sampleDraw(x, u4, { rows: { seq: 3, first: 1, count: 2 } });
  assert.deepEqual(out.shape, [5, 4]);
  // Equal logits: u = 0 draws the first id; p = 1/5, entropy log 5.
  const res = await readSampleDraw(out);
  assert.deepEqual([...res.tokens], [0, 0, 0, 0]);
  assert.deepEqual([...res.argmax], [0, 0, 0, 0]);
  for (const v of res.prob) assert.ok(Math.abs(v - 0.2) < 1e-6);
  for (const v of res.entropy) assert.ok(Math.abs(v - Math.log(5)) < 1e-6);
  using bad = Tensor.empty(gpu, [5, 6]);
  assert.throws(() => sampleDraw(x, u6, { out: bad }), /dtype/);
});
