import assert from "node:assert/strict";
import { gpuTest } from "@blockdiff/core/testing";
import {
  adaptiveBlockSize,
  ancestral,
  arSample,
  type BlockDenoiser,
  type BlockSizePolicy,
  confidenceUnmasking,
  type DrawRecord,
  firstHitting,
  fixedBlockSize,
  hostBlockDenoiser,
  type InnerSampler,
  type ProbabilityOptions,
  semiArSample,
} from "@blockdiff/schedules";
import { Tensor } from "@blockdiff/core";
import { readSampleDraw, sampleDraw } from "@blockdiff/kernels";
import { ByteTokenizer } from "@blockdiff/data";
import { KvBlockDenoiser } from "./kv_denoiser.ts";
import { WindowBlockDenoiser } from "./window_denoiser.ts";
import { KvArModel, WindowArModel } from "./ar_models.ts";
import { FullSequenceDenoiser } from "./full_denoiser.ts";
import { generate } from "./generate.ts";
import { tinyModel } from "./_test_model.ts";

const MASK = 49, BOS = 48;
const base = { maskId: MASK, bosId: BOS };
const probs = { maskId: MASK };

/** Largest |Δ| between the probabilities and entropies of two draw records. */
function recordGap(a: DrawRecord, b: DrawRecord): number {
  let worst = 0;
  for (const k of ["prob", "maxProb", "entropy"] as const) {
    for (let i = 0; i < a[k].length; i++) worst = Math.max(worst, Math.abs(a[k][i] - b[k][i]));
  }
  return worst;
}

/** Uniforms spread over [0, 1), one per position. */
const spread = (n: number) => Float32Array.from({ length: n }, (_, i) => (i * 0.618) % 1);

gpuTest("sample: BD3-LM block denoisers on a tiny model", async (t, gpu) => {
  using model = await tinyModel(gpu);
  const bd = async (
    kv: boolean,
    inner: InnerSampler,
    policy: BlockSizePolicy,
    length: number,
    seed: number,
    batch = 2,
  ) => {
    if (kv) {
      using d = new KvBlockDenoiser(model, batch);
      return await semiArSample(d, { ...base, length, seed, inner, blockSize: policy });
    }
    const d = new WindowBlockDenoiser(model, batch);
    return await semiArSample(d, { ...base, length, seed, inner, blockSize: policy });
  };

  await t.step("KV-cached and recomputed sampling give identical tokens (no slide)", async () => {
    for (const inner of [firstHitting(), ancestral(6)]) {
      const a = await bd(true, inner, fixedBlockSize(4), 32, 5);
      const b = await bd(false, inner, fixedBlockSize(4), 32, 5);
      assert.deepEqual(a.rows, b.rows, inner.name);
      assert.equal(a.nfe, b.nfe);
      assert.ok(a.rows.every((r) => r.length === 32 && !r.includes(MASK)));
    }
  });

  await t.step("same seed → same tokens; first-hitting NFE = L − 1", async () => {
    const a = await bd(true, firstHitting(), fixedBlockSize(4), 32, 9, 1);
    const b = await bd(true, firstHitting(), fixedBlockSize(4), 32, 9, 1);
    assert.deepEqual(a.rows, b.rows);
    assert.equal(a.nfe, 31);
    assert.equal(a.commits, 7);
  });

  await t.step("adaptive block sizes: KV and recompute paths still agree", async () => {
    const policy = adaptiveBlockSize({ sizes: [2, 4, 8], threshold: 0.3 });
    const a = await bd(true, firstHitting(), policy, 32, 3);
    const b = await bd(false, firstHitting(), policy, 32, 3);
    assert.deepEqual(a.blockSizes, b.blockSizes);
    assert.deepEqual(a.rows, b.rows);
    assert.equal(a.blockSizes.reduce((x, y) => x + y, 0), 32);
  });

  await t.step("a prompt prefilled in one pass = committed block by block", async () => {
    const prompt = Array.from({ length: 13 }, (_, i) => (i * 7) % 40);
    const opts = { ...base, length: 72, seed: 6, prompt, inner: firstHitting() };
    using fast = new KvBlockDenoiser(model, 2);
    using slow = new KvBlockDenoiser(model, 2);
    // The same denoiser without its commitPrompt fast path.
    const chunked: BlockDenoiser = {
      batch: slow.batch,
      vocab: slow.vocab,
      reset: () => slow.reset(),
      denoise: (b, n, t, u, p) => slow.denoise(b, n, t, u, p),
      redraw: (u, p) => slow.redraw(u, p),
      commit: (b, n) => slow.commit(b, n),
    };
    const a = await semiArSample(fast, { ...opts, blockSize: fixedBlockSize(4) });
    const b = await semiArSample(chunked, { ...opts, blockSize: fixedBlockSize(4) });
    // BOS + 13 prompt tokens: 3 full blocks in one pass instead of three.
    assert.equal(a.commits, b.commits - 2);
    assert.equal(a.nfe, b.nfe);
    // Both slide past the model length (32) block by block, and agree token for token.
    assert.deepEqual(a.rows, b.rows);
    // The caches hold the same keys: the records of a further block agree to f32 rounding.
    const block = new Int32Array(8).fill(MASK);
    const u = spread(8);
    const x = await fast.denoise(block, 4, 1, u, probs);
    const y = await slow.denoise(block, 4, 1, u, probs);
    assert.deepEqual(x.tokens, y.tokens);
    assert.deepEqual(x.argmax, y.argmax);
    const worst = recordGap(x, y);
    assert.ok(worst < 1e-4, `max |Δ| of p, max p, entropy ${worst}`);
  });

  await t.step(
    "every inner sampler on device draw records: KV = recompute",
    async () => {
      for (const inner of [firstHitting(), ancestral(3), confidenceUnmasking({ threshold: 0.2 })]) {
        using kv = new KvBlockDenoiser(model, 2);
        const a = await semiArSample(kv, {
          ...base,
          length: 24,
          seed: 8,
          inner,
          blockSize: fixedBlockSize(4),
        });
        using w = new WindowBlockDenoiser(model, 2);
        const b = await semiArSample(w, {
          ...base,
          length: 24,
          seed: 8,
          inner,
          blockSize: fixedBlockSize(4),
        });
        assert.deepEqual(a.rows, b.rows, inner.name);
        assert.ok(
          a.rows.every((r) =>
            r.length === 24 && !r.includes(MASK) && r.every((x) => x >= 0 && x < MASK || x === BOS)
          ),
        );
      }
      // A denoising step is one submission: the pass, the copy of its rows and the draw; only
      // 5 words per position come back.
      using kv = new KvBlockDenoiser(model, 2);
      const block = new Int32Array(8).fill(MASK);
      const u = new Float32Array(8).fill(0.5);
      await kv.denoise(block, 4, 1, u, probs);
      const before = gpu.counters.submissions;
      const d = await kv.denoise(block, 4, 1, u, probs);
      assert.equal(gpu.counters.submissions - before, 1);
      assert.equal(d.tokens.length, 8);
    },
  );

  await t.step(
    "f16 weight copies: cached predictions within 1e-2 of f32, sampling still works",
    async () => {
      const block = new Int32Array(4).fill(MASK);
      const u = spread(4);
      using d32 = new KvBlockDenoiser(model, 1);
      const want = await d32.denoise(block, 4, 1, u, probs);
      const on = await model.useHalfWeights();
      try {
        using d16 = new KvBlockDenoiser(model, 1);
        const got = await d16.denoise(block, 4, 1, u, probs);
        if (on) {
          // Relative error of the positions' max probabilities and entropies together.
          let num = 0, den = 0;
          for (const k of ["maxProb", "entropy"] as const) {
            for (let i = 0; i < want[k].length; i++) {
              [num, den] = [num + (got[k][i] - want[k][i]) ** 2, den + want[k][i] ** 2];
            }
          }
          const err = Math.sqrt(num / den);
          console.log(`    f16 weights: max p / entropy relative error ${err.toExponential(2)}`);
          assert.ok(err > 0 && err < 1e-2, `relative error ${err}`);
        }
        const r = await semiArSample(d16, {
          ...base,
          length: 16,
          seed: 3,
          inner: firstHitting(),
          blockSize: fixedBlockSize(4),
        });
        assert.ok(!r.rows[0].includes(MASK));
      } finally {
        await model.useHalfWeights(false);
      }
    },
  );

  await t.step("longer than the model length: the cache slides", async () => {
    using d = new KvBlockDenoiser(model, 1);
    const r = await semiArSample(d, {
      ...base,
      length: 80,
      seed: 4,
      inner: firstHitting(),
      blockSize: fixedBlockSize(4),
    });
    assert.equal(r.rows[0].length, 80);
    assert.ok(!r.rows[0].includes(MASK));
    assert.equal(r.nfe, 79);
    assert.ok(d.cached < 32);
    const w = await bd(false, firstHitting(), fixedBlockSize(4), 80, 4, 1);
    assert.equal(w.rows[0].length, 80);
    // Identical up to the model length; afterwards the paths may differ (the cache slides; see
    // docs/design.md).
    assert.deepEqual([...w.rows[0].subarray(0, 32)], [...r.rows[0].subarray(0, 32)]);
  });
});

gpuTest("sample: MDLM logits projected in row chunks equal one projection", async (_t, gpu) => {
  using model = await tinyModel(gpu, { algo: "mdlm", blockSize: 32 });
  using whole = new FullSequenceDenoiser(model, 2);
  using chunked = new FullSequenceDenoiser(model, 2, { logitsChunkRows: 7 });
  const block = Int32Array.from({ length: 64 }, (_, i) => (i % 3 === 0 ? MASK : i % 40));
  const u = spread(64);
  const a = await whole.denoise(block, 32, 0.5, u, probs);
  const b = await chunked.denoise(block, 32, 0.5, u, probs);
  const worst = recordGap(a, b);
  assert.ok(worst < 1e-5, `max |Δ| of p, max p, entropy ${worst}`);
  assert.deepEqual(b.tokens, a.tokens);
  assert.deepEqual(b.argmax, a.argmax);
  assert.deepEqual((await chunked.redraw(u, probs)).tokens, a.tokens);
});

gpuTest("sample: AR with and without KV cache", async (t, gpu) => {
  using model = await tinyModel(gpu, { algo: "ar", blockSize: 32 });
  await t.step("cached and recomputed AR agree while the cache holds everything", async () => {
    using kv = new KvArModel(model, 2);
    const a = await arSample(kv, { ...base, length: 32, seed: 2, prompt: [1, 2, 3] });
    const b = await arSample(new WindowArModel(model, 2), {
      ...base,
      length: 32,
      seed: 2,
      prompt: [1, 2, 3],
    });
    assert.deepEqual(a.rows, b.rows);
    assert.deepEqual([...a.rows[0].subarray(0, 4)], [BOS, 1, 2, 3]);
    assert.equal(a.nfe, 28); // the prompt call, then one per token but the last
    assert.equal(kv.passes, 28); // the prompt prefilled in one pass
    // A reused model starts afresh (reset empties its cache): the same seed, the same tokens.
    const again = await arSample(kv, { ...base, length: 32, seed: 2, prompt: [1, 2, 3] });
    assert.deepEqual(again.rows, a.rows);
  });
  await t.step("beyond the window", async () => {
    using kv = new KvArModel(model, 1);
    const r = await arSample(kv, { ...base, length: 48, seed: 2 });
    assert.equal(r.rows[0].length, 48);
  });
});

gpuTest("sample: generate() end to end on every algorithm", async (t, gpu) => {
  const tok = new ByteTokenizer();
  const common = { vocab: tok.vocabSize };
  for (const algo of ["bd3lm", "mdlm", "sedd", "ar"] as const) {
    await t.step(algo, async () => {
      using model = await tinyModel(gpu, {
        ...common,
        algo,
        blockSize: algo === "bd3lm" ? 4 : 32,
      });
      const events: number[] = [];
      const out = await generate(model, tok, {
        prompt: "ab",
        batch: 2,
        seed: 1,
        steps: 8,
        stopAtEos: false,
        onStep: (e) => void events.push(e.nfe),
      });
      assert.equal(out.ids.length, 2);
      assert.equal(out.prefixLength, 3);
      assert.deepEqual(out.ids[0].slice(0, 3), [tok.bosId, 97, 98]);
      assert.ok(out.texts[0].startsWith("ab"));
      assert.deepEqual(out.lengths, [29, 29]);
      assert.ok(out.ids.every((r) => !r.includes(tok.maskId)));
      assert.ok(out.nfe > 0 && out.tokensPerSecond > 0 && events.length > 0);
      if (algo === "sedd") assert.equal(out.nfe, 8);
      if (algo === "bd3lm" || algo === "mdlm") assert.equal(out.nfe, 29);
    });
  }
});

/**
 * Toy logits `[B, n, V]` for a block: they depend on the position and on the block's visible
 * tokens, so every reveal changes the next prediction, as with a real denoiser.
 */
function toyLogits(block: Int32Array, batch: number, n: number, V: number): Float32Array {
  const out = new Float32Array(batch * n * V);
  for (let r = 0; r < batch; r++) {
    let h = 7;
    for (let j = 0; j < n; j++) {
      if (block[r * n + j] !== MASK) h = (h * 17 + block[r * n + j]) % 997;
    }
    for (let j = 0; j < n; j++) {
      for (let v = 0; v < V; v++) out[(r * n + j) * V + v] = 2 * Math.sin(h + 3 * j + 5 * v);
    }
  }
  return out;
}

gpuTest(
  "sample: the kernel's draw records and their float64 reference sample the same tokens",
  async (t, gpu) => {
    const V = 50, B = 2;
    // The same toy logits, drawn from by the sample-draw kernel (the path of the GPU denoisers)
    // or by its float64 reference (`hostBlockDenoiser`). A uniform within f32 rounding of a CDF
    // boundary could pick the neighbour on the device; at this seed none is, so the samples
    // agree token for token.
    let kept: Float32Array | null = null;
    const onDevice = async (uniforms: Float32Array, p: ProbabilityOptions) => {
      using x = Tensor.from(gpu, kept!, [kept!.length / V, V]);
      using u = Tensor.from(gpu, uniforms, [uniforms.length]);
      using out = sampleDraw(x, u, { maskId: p.maskId, topP: p.topP, temperature: p.temperature });
      const r = await readSampleDraw(out);
      return { ...r, tokens: r.tokens.slice(), argmax: r.argmax.slice() };
    };
    const device: BlockDenoiser = {
      batch: B,
      vocab: V,
      reset() {},
      commit: () => Promise.resolve(),
      denoise(block, n, _t, uniforms, p) {
        kept = toyLogits(block, B, n, V);
        return onDevice(uniforms, p);
      },
      redraw: onDevice,
    };
    const host = hostBlockDenoiser({
      batch: B,
      vocab: V,
      reset() {},
      commit() {},
      logits: (block, n) => toyLogits(block, B, n, V),
    });
    const inners = [firstHitting(), ancestral(3), confidenceUnmasking({ threshold: 0.2 })];
    for (const inner of inners) {
      await t.step(inner.name, async () => {
        for (const topP of [1, 0.9]) {
          const opts = {
            ...base,
            length: 24,
            seed: 12,
            inner,
            blockSize: fixedBlockSize(4),
            probabilities: { topP },
          };
          const a = await semiArSample(device, opts);
          const b = await semiArSample(host, opts);
          assert.deepEqual(a.rows, b.rows, `topP ${topP}`);
          assert.equal(a.nfe, b.nfe);
        }
      });
    }
  },
);
