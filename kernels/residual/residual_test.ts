import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { Tensor } from "@blockdiff/core";
import { residual } from "./residual.ts";
import { residualRef } from "./residual_ref.ts";

gpuTest("residual: x + gate ⊙ y against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  for (const [B, S, d] of [[1, 1, 1], [2, 3, 5], [3, 17, 33], [2, 129, 257]]) {
    for (const gated of [false, true]) {
      await t.step(`B=${B} S=${S} d=${d} gate=${gated}`, async () => {
        const xs = rng.normals(B * S * d), ys = rng.normals(B * S * d), gs = rng.normals(B * d);
        using x = Tensor.from(gpu, xs, [B, S, d]);
        using y = Tensor.from(gpu, ys, [B, S, d]);
        using g = Tensor.from(gpu, gs, [B, d]);
        using out = poisoned(gpu, [B, S, d]);
        residual(x, y, gated ? g : null, out);
        const want = residualRef(xs, ys, gated ? gs : null, B, d);
        assertClose(await out.readFloat(), want, 1e-6, "residual", seed);
        residual(x, y, gated ? g : null, x); // in place
        assertClose(await x.readFloat(), want, 1e-6, "residual in place", seed);
      });
    }
  }
});

gpuTest(
  "residual: gate as a chunk of a [B, 6d] modulation (gate_msa, gate_mlp)",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    for (const [B, S, d, chunk] of [[1, 1, 1, 2], [2, 3, 5, 5], [3, 17, 33, 2], [2, 129, 257, 5]]) {
      await t.step(`B=${B} S=${S} d=${d} chunk ${chunk}`, async () => {
        const xs = rng.normals(B * S * d), ys = rng.normals(B * S * d), ms = rng.normals(B * 6 * d);
        const gs = new Float32Array(B * d);
        for (let b = 0; b < B; b++) {
          gs.set(ms.subarray(b * 6 * d + chunk * d, b * 6 * d + (chunk + 1) * d), b * d);
        }
        using x = Tensor.from(gpu, xs, [B, S, d]);
        using y = Tensor.from(gpu, ys, [B, S, d]);
        using mod = Tensor.from(gpu, ms, [B, 6 * d]);
        using out = poisoned(gpu, [B, S, d]);
        residual(x, y, { tensor: mod, chunk }, out);
        const want = residualRef(xs, ys, gs, B, d);
        assertClose(await out.readFloat(), want, 1e-6, "residual chunk gate", seed);
        residual(x, y, { tensor: mod, chunk }, x);
        assertClose(await x.readFloat(), want, 1e-6, "residual chunk gate in place", seed);
      });
    }
  },
);
