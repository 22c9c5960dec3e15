import assert from "node:assert/strict";
import { gpuTest } from "@blockdiff/core/testing";
import {
  adaptiveBlockSize,
  type BlockSizePolicy,
  firstHitting,
  fixedBlockSize,
  semiArSample,
} from "@blockdiff/schedules";
import { KvBlockDenoiser } from "./kv_denoiser.ts";
import { WindowBlockDenoiser } from "./window_denoiser.ts";
import { tinyModel } from "./_test_model.ts";

const MASK = 49, BOS = 48;

// The model is trained with blocks of 4 and a context of 32; `generate` commits the prompt in
// chunks of the trained block size, so the sampled blocks start wherever the prompt's tail
// leaves them. Past the context the window must drop whole blocks so that no block straddles
// the cache's end, for every sampling block size and every prompt length.
gpuTest("sample: past the context with any block size and any prompt length", async (t, gpu) => {
  using model = await tinyModel(gpu);
  const cases: [string, BlockSizePolicy, number][] = [
    ["L′ = 4", fixedBlockSize(4), 4],
    ["L′ = 8", fixedBlockSize(8), 8],
    ["L′ = 16", fixedBlockSize(16), 16],
    ["adaptive {4, 8, 16}", adaptiveBlockSize({ sizes: [4, 8, 16], threshold: 0.3 }), 16],
  ];
  for (const [name, policy, modulus] of cases) {
    await t.step(name, async () => {
      for (let residue = 0; residue < modulus; residue++) {
        // BOS plus the prompt: `residue` tokens past a multiple of the block size.
        const prompt = Array.from({ length: modulus + residue - 1 }, (_, i) => (i * 7) % 40);
        const opts = {
          maskId: MASK,
          bosId: BOS,
          prompt,
          length: 72,
          seed: residue,
          inner: firstHitting(),
          blockSize: policy,
          prefixChunk: 4,
        };
        for (const kv of [true, false]) {
          const r = kv
            ? await (async () => {
              using d = new KvBlockDenoiser(model, 1);
              const out = await semiArSample(d, opts);
              assert.ok(d.cached < 32, `cache holds ${d.cached}`);
              return out;
            })()
            : await semiArSample(new WindowBlockDenoiser(model, 1), opts);
          const what = `${kv ? "kv" : "window"}, prompt of ${prompt.length + 1}`;
          assert.equal(r.rows[0].length, 72, what);
          assert.ok(!r.rows[0].includes(MASK), what);
          assert.deepEqual([...r.rows[0].subarray(1, prompt.length + 1)], prompt, what);
        }
      }
    });
  }
});
