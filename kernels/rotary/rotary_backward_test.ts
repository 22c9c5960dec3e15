import assert from "node:assert/strict";
import { assertClose, freshSeed, gpuTest, Rng } from "@blockdiff/core/testing";
import { ShapeError, Tensor } from "@blockdiff/core";
import { assertGradient, centralDifferences, pick, sampleIndices } from "../_finite_diff.ts";
import { rotary, RotaryTable } from "./rotary.ts";
import { rotaryBackward } from "./rotary_backward.ts";
import { rotaryBackwardRef } from "./rotary_backward_ref.ts";
import { rotaryRef } from "./rotary_ref.ts";

// In place, so NaN poisoning does not apply: every element is compared with the reference
// and the v slot must come back bit-identical. Tolerance as the forward's (two f32 products
// and a sum per output, cos/sin rounded once to f32) with margin: 1e-5.
const TOL = 1e-5;
const SAMPLES = 16;

function vSlotUnchanged(got: Float32Array, want: Float32Array, width: number): void {
  for (let i = 0; i < got.length; i++) {
    if (Math.floor(i / width) % 3 === 2 && !Object.is(got[i], want[i])) {
      assert.fail(`v element ${i} changed: ${want[i]} → ${got[i]}`);
    }
  }
}

gpuTest("rotaryBackward: against the reference and finite differences", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const [B, S, H, D] of [[1, 1, 1, 2], [2, 3, 3, 4], [3, 17, 3, 32], [2, 33, 12, 64]]) {
    const d = H * D;
    using table = RotaryTable.create(gpu, D, 128);
    // Positions 0…S−1, the 2L training pass (period L = S/2 rounded up), a KV block at an
    // offset and a negative shift applied to every row.
    const L = Math.ceil(S / 2);
    const modes = [
      { name: "positions 0…S−1", opts: {}, pos: (s: number) => s },
      { name: `period ${L}`, opts: { posPeriod: L }, pos: (s: number) => s % L },
      { name: "offset 100 − S", opts: { posOffset: 100 - S }, pos: (s: number) => 100 - S + s },
      { name: "shift −7 (period 1)", opts: { posOffset: -7, posPeriod: 1 }, pos: () => -7 },
    ];
    for (const mode of modes) {
      await t.step(`B=${B} S=${S} H=${H} D=${D} ${mode.name}`, async () => {
        const dys = rng.normals(B * S * 3 * d);
        using dqkv = Tensor.from(gpu, dys, [B, S, 3 * d]);
        assert.equal(rotaryBackward(dqkv, table, mode.opts), dqkv);
        const got = await dqkv.readFloat();
        vSlotUnchanged(got, dys, d);
        const ref = rotaryBackwardRef(dys, B, S, d, D, mode.pos);
        const e = assertClose(got, ref, TOL, "dqkv", seed);

        const x64 = Float64Array.from(rng.normals(B * S * 3 * d));
        const fwd = () => rotaryRef(x64, B, S, d, D, mode.pos);
        const ix = sampleIndices(rng, x64.length, SAMPLES);
        const fd = centralDifferences(fwd, dys, x64, ix);
        const f = assertGradient(pick(ref, ix), fd, 1e-6, "ref vs FD", seed);
        assertGradient(pick(got, ix), fd, TOL, "GPU vs FD", seed);
        console.log(`  GPU vs ref ${e.toExponential(2)}, ref vs FD ${f.toExponential(2)}`);
      });
    }
  }
});

gpuTest("rotaryBackward: undoes the forward rotation (R(−θ)·R(θ) = I)", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [B, S, H, D] = [2, 40, 3, 32];
  const d = H * D;
  using table = RotaryTable.create(gpu, D, 1100);
  const xs = rng.normals(B * S * 3 * d);
  using qkv = Tensor.from(gpu, xs, [B, S, 3 * d]);
  rotary(qkv, table, { posOffset: 1000 });
  rotaryBackward(qkv, table, { posOffset: 1000 });
  // cos² + sin² of the f32 table differs from 1 by a few ulps, so the round trip is that close.
  const err = assertClose(await qkv.readFloat(), xs, 1e-6, "round trip", seed);
  console.log(`  round-trip relative error at θ ≈ 1000 rad: ${err.toExponential(2)}`);
});

gpuTest("rotaryBackward: rejects bad layouts and positions beyond the table", (_t, gpu) => {
  using table = RotaryTable.create(gpu, 8, 16);
  using dqkv = Tensor.zeros(gpu, [1, 4, 48]);
  using bad = Tensor.zeros(gpu, [1, 4, 36]);
  assert.throws(() => rotaryBackward(bad, table), ShapeError);
  assert.throws(() => rotaryBackward(dqkv, table, { posOffset: 13 }), ShapeError);
  assert.throws(() => rotaryBackward(dqkv, table, { posPeriod: 0 }), ShapeError);
  rotaryBackward(dqkv, table, { posOffset: -15, posPeriod: 1 });
  return Promise.resolve();
});
