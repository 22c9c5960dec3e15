import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { rotary, rotaryShift, RotaryTable } from "./rotary.ts";
import { rotaryRef } from "./rotary_ref.ts";

// The kernel is in place, so NaN poisoning does not apply; instead every rotated element is
// compared with the reference and the v slot must come back bit-identical.
//
// Tolerance for same-θ comparisons, 1e-6: the table holds cos/sin rounded once to f32 (≤ 6e-8
// relative) and each output is two f32 products and a sum, so the error is a few f32 ulps.
const TOL = 1e-6;

function vSlotUnchanged(got: Float32Array, want: Float32Array, width: number): void {
  for (let i = 0; i < got.length; i++) {
    if (Math.floor(i / width) % 3 === 2 && !Object.is(got[i], want[i])) {
      assert.fail(`v element ${i} changed: ${want[i]} → ${got[i]}`);
    }
  }
}

gpuTest("rotary: q and k rotated, v untouched, against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  // [B, S, heads, D]: D = 2 (one pair), odd head counts, the tiny/small models' D = 32 and 64.
  for (const [B, S, H, D] of [[1, 1, 1, 2], [2, 3, 3, 4], [3, 17, 3, 32], [2, 33, 12, 64]]) {
    const d = H * D;
    using table = RotaryTable.create(gpu, D, 128);
    await t.step(`B=${B} S=${S} H=${H} D=${D} positions 0…S−1`, async () => {
      const xs = rng.normals(B * S * 3 * d);
      using qkv = Tensor.from(gpu, xs, [B, S, 3 * d]);
      assert.equal(rotary(qkv, table), qkv);
      const got = await qkv.readFloat();
      vSlotUnchanged(got, xs, d);
      const want = rotaryRef(xs, B, S, d, D, (s) => s);
      const err = assertClose(got, want, TOL, "rotary", seed);
      console.log(`  relative error ${err.toExponential(2)}`);
    });
    await t.step(`B=${B} S=${2 * S} H=${H} D=${D} 2L pass: period L`, async () => {
      const xs = rng.normals(B * 2 * S * 3 * d);
      using qkv = Tensor.from(gpu, xs, [B, 2 * S, 3 * d]);
      rotary(qkv, table, { posPeriod: S });
      const want = rotaryRef(xs, B, 2 * S, d, D, (s) => s % S);
      assertClose(await qkv.readFloat(), want, TOL, "rotary 2L", seed);
    });
    await t.step(`B=${B} S=${S} H=${H} D=${D} KV block: offset 100`, async () => {
      const xs = rng.normals(B * S * 3 * d);
      using qkv = Tensor.from(gpu, xs, [B, S, 3 * d]);
      rotary(qkv, table, { posOffset: 100 - S });
      const want = rotaryRef(xs, B, S, d, D, (s) => 100 - S + s);
      assertClose(await qkv.readFloat(), want, TOL, "rotary offset", seed);
    });
  }
});

gpuTest(
  "rotary: rotaryShift moves a rotated tensor back by a fixed b positions",
  async (_t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    const [B, S, H, D, b] = [2, 24, 3, 32, 8];
    const d = H * D;
    using table = RotaryTable.create(gpu, D, 64);
    const xs = rng.normals(B * S * 3 * d);
    using qkv = Tensor.from(gpu, xs, [B, S, 3 * d]);
    rotary(qkv, table, { posOffset: 30 });
    rotaryShift(qkv, table, -b);
    const got = await qkv.readFloat();
    vSlotUnchanged(got, xs, d);
    // Against the same two rotations in float64: same θs, so the tight tolerance holds.
    const first = rotaryRef(xs, B, S, d, D, (s) => 30 + s);
    const composed = rotaryRef(first, B, S, d, D, () => -b);
    const err = assertClose(got, composed, TOL, "rotary delta vs composed", seed);
    // Against a direct rotation to p − b: θ(p) + θ(−b) differs from θ(p − b) by the f32 rounding
    // of each θ, ≤ ulp(54)/2 + ulp(8)/2 ≈ 2.4e-6 rad here, so the relative error is ~1e-6; 2e-5
    // leaves room without hiding a wrong sign (that would be an O(1) error).
    const direct = rotaryRef(xs, B, S, d, D, (s) => 30 + s - b);
    const err2 = assertClose(got, direct, 2e-5, "rotary delta vs direct", seed);
    console.log(
      `  relative error composed ${err.toExponential(2)}, direct ${err2.toExponential(2)}`,
    );
  },
);

gpuTest("rotary: large positions keep full accuracy (host cos/sin tables)", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [B, S, H, D] = [1, 8, 2, 64];
  const d = H * D;
  using table = RotaryTable.create(gpu, D, 1100);
  const xs = rng.normals(B * S * 3 * d);
  using qkv = Tensor.from(gpu, xs, [B, S, 3 * d]);
  rotary(qkv, table, { posOffset: 1090 });
  const want = rotaryRef(xs, B, S, d, D, (s) => 1090 + s);
  const err = assertClose(await qkv.readFloat(), want, TOL, "rotary p≈1090", seed);
  console.log(`  relative error at θ ≈ 1090 rad: ${err.toExponential(2)}`);
});

gpuTest("rotary: rejects bad layouts and positions beyond the table", (_t, gpu) => {
  using table = RotaryTable.create(gpu, 8, 16);
  using qkv = Tensor.zeros(gpu, [1, 4, 48]);
  using bad = Tensor.zeros(gpu, [1, 4, 36]);
  assert.throws(() => rotary(bad, table), ShapeError);
  assert.throws(() => rotary(qkv, table, { posOffset: 13 }), ShapeError);
  assert.throws(() => rotary(qkv, table, { posOffset: -16, posPeriod: Infinity }), ShapeError);
  assert.throws(() => RotaryTable.create(gpu, 7, 16), ShapeError);
  rotary(qkv, table, { posOffset: 12 });
  rotary(qkv, table, { posOffset: -15, posPeriod: 1 });
  rotary(qkv, table, { posOffset: -12, posPeriod: Infinity });
  assert.throws(() => rotaryShift(qkv, table, 16), ShapeError);
  return Promise.resolve();
});
