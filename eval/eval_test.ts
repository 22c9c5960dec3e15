import assert from "node:assert/strict";
import { gpuTest, Rng } from "@blockdiff/core/testing";
import { Tensor } from "@blockdiff/core";
import { newGraph } from "@blockdiff/model";
import type { Dit } from "@blockdiff/model";
import { drawTimes, maskTokens, objectiveLoss } from "@blockdiff/train";
import { DEFAULT_INTERVAL } from "@blockdiff/schedules";
import { ByteTokenizer } from "@blockdiff/data";
import { tinyModel } from "@blockdiff/sampling/testing";
import {
  compareBlockPolicies,
  DitScorer,
  evalBatches,
  formatTable,
  generativePerplexity,
  linePlot,
  median,
  sampleStats,
  type Scorer,
  scoreSample,
  testPerplexity,
  zeroShotPerplexity,
} from "./mod.ts";

const MASK = 49;

/** −log softmax(row without the mask entry)[target], in float64. */
function nllOf(logits: Float32Array, off: number, V: number, target: number): number {
  let max = -Infinity;
  for (let v = 0; v < V; v++) if (v !== MASK) max = Math.max(max, logits[off + v]);
  let sum = 0;
  for (let v = 0; v < V; v++) if (v !== MASK) sum += Math.exp(logits[off + v] - max);
  return -(logits[off + target] - max - Math.log(sum));
}

async function logitsOf(model: Dit, ids: Int32Array, B: number, kind: "bdTrain" | "causal") {
  using g = newGraph(model.gpu, { grad: false });
  const t = g.keep(Tensor.from(model.gpu, ids, [B, ids.length / B], "i32"));
  return await model.forward(g, { ids: t }, { kind }).value.readFloat();
}

gpuTest(
  "eval: losses scored in chunks of positions equal one piece (all objectives)",
  async (t, gpu) => {
    const rng = new Rng(5);
    const B = 2, L = 32;
    const ids = Int32Array.from({ length: B * L }, (_, i) => (i % L === 0 ? 48 : rng.int(0, 47)));
    for (const algo of ["bd3lm", "mdlm", "sedd", "ar"] as const) {
      await t.step(algo, async () => {
        using model = await tinyModel(gpu, algo === "bd3lm" ? {} : { algo, blockSize: L });
        const loss = async (chunk?: number) => {
          using g = newGraph(gpu, { grad: false });
          const r = objectiveLoss(g, model, { batch: B, length: L, ids }, {
            maskId: MASK,
            seed: 3,
            step: 1,
            eval: true,
            logitsChunkRows: chunk,
          });
          return { total: (await r.loss.value.readFloat())[0], per: await r.perToken.readFloat() };
        };
        const whole = await loss(), chunked = await loss(7);
        assert.ok(
          Math.abs(whole.total - chunked.total) <= 1e-5 * Math.abs(whole.total),
          `${whole.total} vs ${chunked.total}`,
        );
        let worst = 0;
        for (let i = 0; i < whole.per.length; i++) {
          worst = Math.max(
            worst,
            Math.abs(whole.per[i] - chunked.per[i]) / Math.max(1, Math.abs(whole.per[i])),
          );
        }
        assert.ok(worst < 1e-5, `per-token relative |Δ| ${worst}`);
      });
    }
  },
);

gpuTest("eval: test perplexity equals exp(mean NELBO) computed by hand", async (t, gpu) => {
  const rng = new Rng(3);
  const B = 2, L = 32, n = 4;
  const data = Int32Array.from({ length: n * L }, (_, i) => (i % L === 0 ? 48 : rng.int(0, 47)));
  const chunks = { data, length: L, count: n };

  await t.step("BD3-LM: a bound from the (t, mask) draws of each batch", async () => {
    using model = await tinyModel(gpu);
    const r = await testPerplexity(model, evalBatches(chunks, B), { maskId: MASK, seed: 7 });
    const V = model.config.vocab, b = model.config.blockSize, K = L / b;
    let sum = 0, tokens = 0;
    for (let step = 0; step < n / B; step++) {
      const x0 = data.subarray(step * B * L, (step + 1) * B * L);
      const tb = drawTimes(B, K, 7, step, DEFAULT_INTERVAL, true);
      const starts = Array.from({ length: K }, (_, k) => k * b);
      const xt = maskTokens(x0, B, L, starts, tb, MASK, 7, step, DEFAULT_INTERVAL, false);
      const both = new Int32Array(2 * B * L);
      for (let i = 0; i < B; i++) {
        xt[i * L] = x0[i * L];
        both.set(xt.subarray(i * L, (i + 1) * L), 2 * i * L);
        both.set(x0.subarray(i * L, (i + 1) * L), 2 * i * L + L);
      }
      const logits = await logitsOf(model, both, B, "bdTrain");
      for (let i = 0; i < B * L; i++) {
        if (i % L === 0) continue;
        tokens++;
        if (xt[i] !== MASK) continue;
        const tt = tb[Math.floor(i / L) * K + Math.floor((i % L) / b)];
        sum += nllOf(logits, i * V, V, x0[i]) / tt;
      }
    }
    assert.equal(r.tokens, tokens);
    assert.equal(r.bound, true);
    assert.ok(
      Math.abs(r.nll - sum / tokens) < 1e-4 * (sum / tokens),
      `${r.nll} vs ${sum / tokens}`,
    );
    assert.ok(Math.abs(r.ppl - Math.exp(sum / tokens)) / r.ppl < 1e-4);
  });

  await t.step("AR: the exact NLL over L − 1 targets", async () => {
    using model = await tinyModel(gpu, { algo: "ar", blockSize: L });
    const r = await testPerplexity(model, evalBatches(chunks, B), { maskId: MASK });
    const V = model.config.vocab;
    let sum = 0;
    for (let s = 0; s < n; s++) {
      const row = data.subarray(s * L, (s + 1) * L);
      const logits = await logitsOf(model, row.slice(0, L - 1), 1, "causal");
      for (let i = 0; i + 1 < L; i++) sum += nllOf(logits, i * V, V, row[i + 1]);
    }
    const want = sum / (n * (L - 1));
    assert.equal(r.bound, false);
    assert.ok(Math.abs(r.nll - want) < 1e-4 * want, `${r.nll} vs ${want}`);
  });
});

gpuTest("eval: zero-shot perplexity on a local text file", async (_t, gpu) => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/docs.txt`;
  const para = "The quick brown fox jumps over the lazy dog. ".repeat(6);
  await Deno.writeTextFile(path, [para, para.toUpperCase(), para].join("\n\n"));
  const tok = new ByteTokenizer();
  using model = await tinyModel(gpu, { vocab: tok.vocabSize });
  const r = await zeroShotPerplexity(model, tok, { kind: "file", path }, {
    batchSize: 4,
    cache: false,
    maxBatches: 2,
  });
  await Deno.remove(dir, { recursive: true });
  assert.equal(r.batches, 2);
  assert.equal(r.tokens, r.sequences * 31);
  assert.ok(Number.isFinite(r.ppl) && r.ppl > 1 && r.bound);
  // An untrained-ish model is near-uniform: the bound is of the order of V.
  assert.ok(r.ppl < 1e4 * tok.vocabSize, `${r.ppl}`);
});

gpuTest("eval: generative perplexity, stats, tables and the policy comparison", async (t, gpu) => {
  await t.step("sliding window scores every target once, EOS excluded", async () => {
    const seen: number[] = [];
    const fake: Scorer = {
      context: 8,
      eosId: 99,
      windowNll(ids: Int32Array) {
        // NLL of target k of the window = its id, so the sum names the targets scored.
        return Promise.resolve(Float64Array.from(ids.subarray(1), (x) => (seen.push(x), x)));
      },
    };
    const ids = Int32Array.from({ length: 21 }, (_, i) => (i === 13 ? 99 : i));
    const r = await scoreSample(fake, ids);
    const want = Array.from({ length: 20 }, (_, i) => i + 1).filter((i) => i !== 13);
    assert.equal(r.tokens, want.length);
    assert.equal(r.nll, want.reduce((a, b) => a + b, 0));
  });

  using scorerModel = await tinyModel(gpu, { algo: "ar", blockSize: 32 }, 5);
  const scorer = new DitScorer(scorerModel, { eosId: 48, maskId: MASK });

  await t.step("DitScorer: a long sample through two windows matches direct scoring", async () => {
    const rng = new Rng(4);
    const ids = Int32Array.from({ length: 48 }, () => rng.int(0, 47));
    const r = await scoreSample(scorer, ids);
    const V = 50;
    let want = 0;
    const w0 = await logitsOf(scorerModel, ids.slice(0, 32), 1, "causal");
    for (let i = 0; i < 31; i++) want += nllOf(w0, i * V, V, ids[i + 1]);
    const w1 = await logitsOf(scorerModel, ids.slice(16, 48), 1, "causal");
    for (let p = 32; p < 48; p++) want += nllOf(w1, (p - 16 - 1) * V, V, ids[p]);
    assert.equal(r.tokens, 47);
    assert.ok(Math.abs(r.nll - want) < 1e-5 * want, `${r.nll} vs ${want}`);
    const g = await generativePerplexity(scorer, [ids]);
    assert.ok(Math.abs(g.genPpl - Math.exp(want / 47)) / g.genPpl < 1e-5);
  });

  await t.step("sample stats: per-sample mean entropy, median / max length", () => {
    const s = sampleStats([[1, 1, 2, 2], [3, 3], [4, 5, 6]], [{ nfe: 10, seconds: 1 }, {
      nfe: 20,
      seconds: 1,
    }]);
    assert.ok(Math.abs(s.entropy - (Math.log(2) + 0 + Math.log(3)) / 3) < 1e-12);
    assert.equal(s.lengthMedian, 3);
    assert.equal(s.lengthMax, 4);
    assert.equal(s.nfe, 15);
    assert.equal(s.tokensPerSecond, 4.5);
    assert.equal(median([4, 1, 3, 2]), 2.5);
  });

  await t.step("table and plot", () => {
    const table = formatTable([{ a: "x", b: 1.23456 }, { a: "long name", b: null }], [
      "a",
      { key: "b", label: "B", digits: 2 },
    ]);
    assert.equal(table.split("\n").length, 4);
    assert.match(table, /\| x +\| +1\.23 \|/);
    assert.match(table, /–/);
    const svg = linePlot([{ name: "loss", points: [[1, 3], [2, 2], [3, 1.5]] }, {
      name: "pt",
      points: [[2, 2.5]],
      markersOnly: true,
    }], { title: "t<1>", logY: true });
    assert.ok(svg.startsWith("<svg") && svg.endsWith("</svg>"));
    assert.equal((svg.match(/<circle/g) ?? []).length, 4);
    assert.equal((svg.match(/<path/g) ?? []).length, 1);
    assert.match(svg, /t&#60;1&#62;/);
  });

  await t.step("fixed vs adaptive block sizes on one model", async () => {
    using model = await tinyModel(gpu, { blockSize: 4 });
    const tok = {
      ...new ByteTokenizer(),
      name: "toy",
      vocabSize: 50,
      maskId: MASK,
      bosId: 48,
      eosId: 48,
      padId: 47,
      encode: (s: string) => [...s].map((c) => c.charCodeAt(0) % 40),
      decode: (ids: ArrayLike<number>) =>
        Array.from(ids, (i) => String.fromCharCode(65 + i)).join(""),
    };
    const r = await compareBlockPolicies(model, tok, {
      fixedSizes: [2, 4, 8],
      adaptive: [{ threshold: 0.2 }],
      samples: 1,
      stopAtEos: false,
      scorer,
    });
    assert.equal(r.rows.length, 4);
    for (const row of r.rows) {
      assert.ok(row.nfe > 0 && Number.isFinite(row.genPpl!) && row.genPpl! > 1, row.policy);
    }
    assert.equal(r.table.split("\n").length, 6);
    assert.ok(r.svg.includes("fixed b"));
  });
});
