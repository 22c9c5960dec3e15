import { freshSeed, gpuTest, poisoned, poisonedInt, Rng } from "@blockdiff/core/testing";
import assert from "node:assert/strict";
import { philoxBits, philoxUniform, splitU64 } from "./philox.ts";
import { mulhilo32, philox4x32_10, philoxBitsRef, philoxUniformRef } from "./philox_ref.ts";

// Random123's kat_vectors (Salmon et al., SC'11), "philox4x32 10" lines:
// counter (4 words), key (2 words) → output (4 words).
const KAT: [[number, number, number, number], [number, number], number[]][] = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff],
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  ],
  [
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    [0xa4093822, 0x299f31d0],
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  ],
];

const hex = (v: ArrayLike<number>) => Array.from(v, (x) => (x >>> 0).toString(16).padStart(8, "0"));

Deno.test("philox reference: Random123 known-answer vectors", () => {
  for (const [ctr, key, want] of KAT) assert.deepEqual(hex(philox4x32_10(ctr, key)), hex(want));
});

Deno.test("philox reference: 32×32 → 64 multiply against BigInt", () => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const edge = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff, 0xd2511f53];
  const values = [...edge, ...Array.from({ length: 2000 }, () => Math.floor(rng.next() * 2 ** 32))];
  for (let i = 0; i < values.length; i++) {
    const a = values[i], b = values[(i * 7 + 3) % values.length];
    const p = BigInt(a) * BigInt(b);
    const [hi, lo] = mulhilo32(a, b);
    assert.equal(BigInt(hi) * 2n ** 32n + BigInt(lo), p, `${a}·${b} (seed ${seed})`);
  }
});

Deno.test("philox: seeds as bigint, number or halves agree; bad ones throw", () => {
  assert.deepEqual(splitU64(0x1234_5678_9abc_def0n), [0x9abcdef0, 0x12345678]);
  assert.deepEqual(splitU64(2 ** 40 + 5), [5, 256]);
  assert.deepEqual(splitU64([7, 9]), [7, 9]);
  assert.throws(() => splitU64(-1), RangeError);
  assert.throws(() => splitU64(2 ** 53), RangeError);
  assert.throws(() => splitU64(1.5), RangeError);
  assert.throws(() => splitU64(1n << 64n), RangeError);
  assert.throws(() => splitU64([2 ** 32, 0]), RangeError);
});

gpuTest(
  "philox: GPU words equal the known-answer vector and the reference bit for bit",
  async (t, gpu) => {
    await t.step(
      "counter 0, key 0 (the first KAT vector is element 0..3 of seed 0, offset 0)",
      async () => {
        using out = philoxBits(gpu, [4], { seed: 0 });
        assert.deepEqual(hex(await out.read()), hex(KAT[0][2]));
      },
    );
    const seed = freshSeed();
    const rng = new Rng(seed);
    const u32 = () => Math.floor(rng.next() * 2 ** 32);
    const shapes = [[1], [7], [255], [257], [2, 50258], [3, 5, 11]];
    for (const shape of shapes) {
      const key: [number, number] = [u32(), u32()];
      const off: [number, number] = [u32(), rng.next() < 0.5 ? 0 : u32()];
      await t.step(`shape=[${shape}] seed=${hex(key)} offset=${hex(off)}`, async () => {
        const count = shape.reduce((a, b) => a * b, 1);
        using bits = poisonedInt(gpu, shape, "u32");
        philoxBits(gpu, shape, { seed: key, offset: off, out: bits });
        const want = philoxBitsRef(count, key, off);
        const got = await bits.read();
        const bad = got.findIndex((v, i) => v !== want[i]);
        assert.equal(bad, -1, `word ${bad}: got ${got[bad]}, want ${want[bad]} (seed ${seed})`);

        const big = (BigInt(key[1]) << 32n) | BigInt(key[0]);
        using unif = poisoned(gpu, shape);
        philoxUniform(gpu, shape, { seed: big, offset: off, out: unif });
        const wantU = philoxUniformRef(count, key, off);
        const gotU = await unif.readFloat();
        const badU = gotU.findIndex((v, i) => v !== wantU[i]);
        assert.equal(
          badU,
          -1,
          `uniform ${badU}: got ${gotU[badU]}, want ${wantU[badU]} (seed ${seed})`,
        );
      });
    }
  },
);

gpuTest(
  "philox: uniforms are in [0, 1) on a 2^-24 grid, with mean 1/2 and variance 1/12",
  async (_t, gpu) => {
    const seed = freshSeed();
    const n = 1 << 20;
    using u = philoxUniform(gpu, [n], {
      seed: BigInt(seed) * 0x9e3779b97f4a7c15n % (1n << 64n),
      offset: 3,
    });
    const v = await u.readFloat();
    let s = 0, s2 = 0;
    for (const x of v) {
      assert.ok(
        x >= 0 && x < 1 && Number.isInteger(x * 16777216),
        `bad uniform ${x} (seed ${seed})`,
      );
      s += x;
      s2 += x * x;
    }
    const mean = s / n, variance = s2 / n - mean * mean;
    // Standard errors: mean √(1/12/n) ≈ 2.8e-4, variance √(1/180/n) ≈ 7.3e-5; allow 6σ.
    assert.ok(Math.abs(mean - 0.5) < 6 * 2.8e-4, `mean ${mean} (seed ${seed})`);
    assert.ok(Math.abs(variance - 1 / 12) < 6 * 7.3e-5, `variance ${variance} (seed ${seed})`);
    // Successive offsets give unrelated streams, not shifted copies of one another.
    using a = philoxBits(gpu, [1024], { seed, offset: 0 });
    using b = philoxBits(gpu, [1024], { seed, offset: 1 });
    const [wa, wb] = [await a.read(), await b.read()];
    const shared = new Set(wa);
    assert.ok(
      wb.filter((x) => shared.has(x)).length <= 1,
      `offsets 0 and 1 overlap (seed ${seed})`,
    );
  },
);
