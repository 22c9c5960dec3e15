/**
 * Shared helpers of the GPU denoisers: one graph per call, ids uploaded, and only the logits
 * rows the sampler needs copied out of the forward pass before reading them back.
 * @module
 */
import type { Gpu } from "../gpu/runtime.ts";
import { Tensor } from "../tensor.ts";
import type { Graph, Var } from "../autograd/graph.ts";
import type { Dit } from "../nn/dit.ts";
import { SIGMA_MAX } from "@blockdiff/schedules";

/** Uploads ids `[B, n]` into graph `g` (freed with it). */
export function idsTensor(g: Graph, ids: ArrayLike<number>, batch: number, n: number): Tensor {
  return g.keep(Tensor.from(g.gpu, ids, [batch, n], "i32"));
}

/** σ(t) `[B]` for a time-conditioned model (log-linear, clipped), else null. */
export function sigmaTensor(g: Graph, model: Dit, batch: number, t: number): Tensor | null {
  if (!model.config.timeConditioning) return null;
  const s = Math.min(-Math.log1p(-Math.min(t, 1)), SIGMA_MAX);
  return g.keep(Tensor.from(g.gpu, new Float32Array(batch).fill(s), [batch]));
}

/**
 * Reads the last `n` of `S` rows of logits `[B, S, V]` as `[B, n, V]`; the rows are copied on
 * the device first, so a long window costs a readback of n rows, not S.
 */
export async function readLastRows(gpu: Gpu, logits: Var, n: number): Promise<Float32Array> {
  const [B, S, V] = logits.shape;
  if (n === S) return await logits.value.readFloat();
  using out = Tensor.empty(gpu, [B, n, V]);
  const src = logits.value;
  for (let b = 0; b < B; b++) {
    gpu.copy(
      src.buffer,
      src.offset + (b * S + S - n) * V * 4,
      out.buffer,
      b * n * V * 4,
      n * V * 4,
    );
  }
  return await out.readFloat();
}
