import assert from "node:assert/strict";
import {
  adaptiveBlockSize,
  analyticSample,
  ancestral,
  arSample,
  confidenceUnmasking,
  entropyStop,
  eosStop,
  firstHitting,
  fixedBlockSize,
  hostBlockDenoiser,
  type HostBlockModel,
  type HostNextTokenModel,
  hostNextTokenModel,
  mdlmSample,
  type ScoreModel,
  semiArSample,
  type StepEvent,
} from "./mod.ts";

const V = 12, MASK = 11, BOS = 10;

/**
 * A host "model": logits at position i depend on the committed context and the visible
 * tokens of the block, like a real denoiser, and are peaked with `sharpness`. The samplers see
 * it through `hostBlockDenoiser`, which turns its logits into draw records with the float64
 * reference of the sample-draw kernel, so they run the same path as on the GPU.
 */
class ToyDenoiser implements HostBlockModel {
  readonly vocab = V;
  context: number[][] = [];
  commits: Int32Array[] = [];
  calls = 0;
  constructor(
    readonly batch: number,
    readonly sharpness = 2,
    readonly forced?: (pos: number) => number,
  ) {}
  reset() {
    this.context = Array.from({ length: this.batch }, () => []);
    this.commits = [];
  }
  logits(block: Int32Array, n: number): Float32Array {
    this.calls++;
    const out = new Float32Array(this.batch * n * V);
    for (let r = 0; r < this.batch; r++) {
      const ctx = this.context[r];
      let h = ctx.reduce((a, x) => (a * 31 + x) % 997, 7);
      for (let j = 0; j < n; j++) {
        if (block[r * n + j] !== MASK) h = (h * 17 + block[r * n + j]) % 997;
      }
      for (let j = 0; j < n; j++) {
        const pos = ctx.length + j;
        for (let v = 0; v < V; v++) {
          out[(r * n + j) * V + v] = this.forced
            ? (v === this.forced(pos) ? 30 : 0)
            : this.sharpness * Math.sin(h + 3 * pos + 5 * v);
        }
      }
    }
    return out;
  }
  commit(block: Int32Array, n: number): Promise<void> {
    this.commits.push(block.slice());
    for (let r = 0; r < this.batch; r++) {
      this.context[r].push(...block.subarray(r * n, (r + 1) * n));
    }
    return Promise.resolve();
  }
}

const base = { maskId: MASK, bosId: BOS };
/** A host block denoiser over a fresh {@link ToyDenoiser}. */
const toy = (...args: ConstructorParameters<typeof ToyDenoiser>) =>
  hostBlockDenoiser(new ToyDenoiser(...args));

Deno.test("samplers: semi-AR block sampler", async (t) => {
  await t.step("same seed → same tokens; other seed → other tokens", async () => {
    const run = (seed: number) =>
      semiArSample(toy(2), {
        ...base,
        length: 24,
        seed,
        inner: ancestral(8),
        blockSize: fixedBlockSize(4),
      });
    const a = await run(3), b = await run(3), c = await run(4);
    assert.deepEqual(a.rows, b.rows);
    assert.notDeepEqual(a.rows, c.rows);
    assert.equal(a.rows[0][0], BOS);
    assert.equal(a.rows[0].length, 24);
    assert.ok(a.rows.every((r) => !r.includes(MASK)));
  });

  await t.step("committed blocks never change and the context is what was committed", async () => {
    const d = new ToyDenoiser(2);
    const events: StepEvent[] = [];
    const r = await semiArSample(hostBlockDenoiser(d), {
      ...base,
      length: 20,
      seed: 11,
      inner: confidenceUnmasking({ threshold: 0.3 }),
      blockSize: fixedBlockSize(4),
      onStep: (e) => void events.push(e),
    });
    for (let k = 0; k < d.commits.length; k++) {
      for (let row = 0; row < 2; row++) {
        assert.deepEqual([...d.commits[k].subarray(row * 4, row * 4 + 4)], [
          ...r.rows[row].subarray(4 * k, 4 * k + 4),
        ]);
      }
    }
    // Every step works on a block at or after everything committed so far.
    for (const e of events) assert.ok(e.blockStart >= 0 && e.blockStart % 4 === 0);
    assert.equal(d.commits.length, 4); // 5 blocks, the last one not committed
    assert.equal(r.commits, 4);
  });

  await t.step("first-hitting: one NFE per generated token", async () => {
    const d = new ToyDenoiser(1);
    const r = await semiArSample(hostBlockDenoiser(d), {
      ...base,
      length: 16,
      seed: 2,
      inner: firstHitting(),
      blockSize: fixedBlockSize(4),
    });
    assert.equal(r.nfe, 15);
    assert.equal(d.calls, 15);
  });

  await t.step("x0 cache: steps that change nothing do not call the network", async () => {
    const d = new ToyDenoiser(1);
    const r = await semiArSample(hostBlockDenoiser(d), {
      ...base,
      length: 16,
      seed: 5,
      inner: ancestral(100),
      blockSize: fixedBlockSize(4),
    });
    assert.equal(r.nfe, d.calls);
    assert.ok(r.nfe <= 15, `nfe ${r.nfe}`);
    const d2 = new ToyDenoiser(1);
    const r2 = await semiArSample(hostBlockDenoiser(d2), {
      ...base,
      length: 16,
      seed: 5,
      inner: ancestral(100),
      blockSize: fixedBlockSize(4),
      cacheX0: false,
    });
    // Without the cache every step until the last reveal calls the network.
    assert.equal(r2.nfe, d2.calls);
    assert.ok(r2.nfe > 2 * r.nfe, `${r2.nfe} vs ${r.nfe}`);
  });

  await t.step("prompt: kept verbatim, full chunks committed first", async () => {
    const d = new ToyDenoiser(1);
    const prompt = [1, 2, 3, 4, 5, 6];
    const r = await semiArSample(hostBlockDenoiser(d), {
      ...base,
      prompt,
      length: 16,
      seed: 1,
      inner: firstHitting(),
      blockSize: fixedBlockSize(4),
    });
    assert.deepEqual([...r.rows[0].subarray(0, 7)], [BOS, ...prompt]);
    assert.deepEqual([...d.commits[0]], [BOS, 1, 2, 3]);
    assert.equal(r.nfe, 16 - 7);
    assert.deepEqual(r.blockSizes, [4, 4, 4]);
  });

  await t.step(
    "EOS stop: BOS = EOS at position 0 does not stop; a generated EOS does",
    async () => {
      // Token 10 is both BOS and EOS; the model emits it at position 9.
      const forced = (pos: number) => (pos === 9 ? BOS : 1 + (pos % 5));
      const r = await semiArSample(toy(1, 2, forced), {
        ...base,
        length: 32,
        seed: 0,
        inner: firstHitting(),
        blockSize: fixedBlockSize(4),
        stopRules: [eosStop(BOS)],
      });
      assert.equal(r.rows[0].length, 10);
      assert.equal(r.rows[0][9], BOS);
      assert.equal(r.stops[0]?.reason, "eos");
      assert.deepEqual(r.blockSizes, [4, 4, 4]); // stopped after the block holding the EOS
      const rej = await semiArSample(toy(1, 2, forced), {
        ...base,
        length: 32,
        seed: 0,
        inner: firstHitting(),
        blockSize: fixedBlockSize(4),
        stopRules: [eosStop(BOS)],
        onStop: "reject",
      });
      assert.equal(rej.rows[0].length, 12);
      assert.deepEqual(rej.rejected, [true]);
    },
  );

  await t.step("entropy stop fires on a repetitive tail and truncates the window", async () => {
    const forced = (pos: number) => (pos < 12 ? pos % 9 : 3);
    const r = await semiArSample(toy(1, 2, forced), {
      ...base,
      length: 64,
      seed: 0,
      inner: firstHitting(),
      blockSize: fixedBlockSize(4),
      stopRules: [entropyStop({ window: 8, threshold: 1 })],
    });
    // Positions 12… repeat token 3: the first block boundary whose last 8 tokens are all 3 is 20.
    assert.equal(r.stops[0]?.cut, 12);
    assert.equal(r.rows[0].length, 12);
    assert.deepEqual(r.blockSizes.length, 5);
  });

  await t.step("adaptive block size: confident → largest, uncertain → smallest", async () => {
    const sure = await semiArSample(toy(1, 2, (p) => p % 7), {
      ...base,
      length: 32,
      seed: 0,
      inner: firstHitting(),
      blockSize: adaptiveBlockSize({ sizes: [4, 8, 16], threshold: 0.9 }),
    });
    assert.deepEqual(sure.blockSizes, [16, 16]);
    assert.equal(sure.probes, 0); // the probe's prediction is reused when the largest size wins
    const unsure = await semiArSample(toy(1, 0.01), {
      ...base,
      length: 16,
      seed: 0,
      inner: firstHitting(),
      blockSize: adaptiveBlockSize({ sizes: [4, 8, 16], threshold: 0.9 }),
    });
    assert.deepEqual(unsure.blockSizes, [4, 4, 4, 4]);
    // The last block has room for 4 only, so its probe is the block's first call.
    assert.equal(unsure.probes, 3);
    assert.equal(unsure.nfe, 15 + 3);
  });

  await t.step("MDLM: one block over the whole length", async () => {
    const d = new ToyDenoiser(1);
    const r = await mdlmSample(hostBlockDenoiser(d), {
      ...base,
      length: 12,
      seed: 1,
      inner: firstHitting(),
    });
    assert.deepEqual(r.blockSizes, [12]);
    assert.equal(r.nfe, 11);
    assert.equal(d.commits.length, 0);
  });
});

Deno.test("samplers: AR and SEDD analytic", async (t) => {
  await t.step("AR: reproducible, EOS stop, NFE = calls", async () => {
    const model = (): HostNextTokenModel & { seen: number[] } => {
      const seen: number[] = [];
      return {
        batch: 1,
        vocab: V,
        seen,
        reset() {
          seen.length = 0;
        },
        append(tokens: Int32Array) {
          seen.push(...tokens);
          const out = new Float32Array(V);
          out[seen.length === 6 ? BOS : seen.length % 4] = 40;
          return out;
        },
      };
    };
    const r = await arSample(hostNextTokenModel(model()), {
      ...base,
      length: 20,
      seed: 1,
      stopRules: [eosStop(BOS)],
    });
    assert.deepEqual([...r.rows[0]], [BOS, 1, 2, 3, 0, 1, BOS]);
    assert.equal(r.nfe, 6);
    const again = await arSample(hostNextTokenModel(model()), { ...base, length: 20, seed: 1 });
    assert.equal(again.rows[0].length, 20);
  });

  await t.step("SEDD analytic: fills every mask, keeps BOS, NFE = T", async () => {
    const L = 8;
    const model: ScoreModel = {
      batch: 2,
      length: L,
      vocab: V,
      scores(x: Int32Array) {
        const out = new Float32Array(x.length * V);
        for (let i = 0; i < x.length; i++) out[i * V + (i % 5)] = 3;
        return Promise.resolve(out);
      },
    };
    const r = await analyticSample(model, { ...base, length: L, seed: 9, steps: 20 });
    const r2 = await analyticSample(model, { ...base, length: L, seed: 9, steps: 20 });
    assert.deepEqual(r.rows, r2.rows);
    assert.equal(r.nfe, 20);
    for (const row of r.rows) {
      assert.equal(row[0], BOS);
      assert.ok(!row.includes(MASK));
    }
  });
});
