/**
 * Attention backward benchmark: one JSON line per mask at L = 1024 (S = 2L for bdTrain), 12
 * heads of 64, batch 1: the backward's time, the forward's time and their ratio, and GFLOP/s
 * counted as the usual 5 matmul-sized products (10·Sq·Sk·D per head; the kernels recompute two
 * of them, so they do 7), dense-equivalent and over the mask-visible pairs. Before timing, one
 * head's dq, dk and dv are checked against the float64 reference.
 * @module
 */
import { type Gpu, Rng, Tensor } from "@blockdiff/core";
import { attention, type AttentionMask, attentionWork, qkvOperands } from "@blockdiff/kernels";
import { attentionBackward } from "@blockdiff/kernels";
import { attentionBackwardRef } from "@blockdiff/kernels";
import { emit, timeGpu } from "../harness.ts";

const H = 12;
const D = 64;
const L = 1024;
/** The head whose gradients are checked (not 0, so head strides are exercised). */
const CHECKED_HEAD = 7;

function relErr(got: Float32Array, want: Float64Array, rows: number, stride: number, at: number) {
  let num = 0, den = 0;
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < D; i++) {
      const g = got[r * stride + at + i];
      const w = want[r * D + i];
      num += (g - w) ** 2;
      den += w * w;
    }
  }
  return Math.sqrt(num / den);
}

/** Runs the attention backward benchmark. */
export async function benchAttentionBackward(gpu: Gpu): Promise<void> {
  const rng = new Rng(4321);
  const d = H * D;
  const cases: { name: string; S: number; mask: AttentionMask }[] = [
    { name: "full", S: L, mask: { kind: "full" } },
    { name: "causal", S: L, mask: { kind: "causal" } },
    { name: "blockCausal b=16", S: L, mask: { kind: "blockCausal", blockSize: 16 } },
    { name: "bdTrain L=1024 b=16", S: 2 * L, mask: { kind: "bdTrain", blockSize: 16 } },
  ];
  for (const c of cases) {
    const S = c.S;
    const data = rng.normals(S * 3 * d);
    const g = rng.normals(S * d);
    using qkv = Tensor.from(gpu, data, [1, S, 3 * d]);
    using dout = Tensor.from(gpu, g, [1, S, d]);
    using dqkv = Tensor.empty(gpu, [1, S, 3 * d]);
    const shape = { batch: 1, heads: H, headDim: D, seqQ: S, seqK: S };
    const fwd = attention({ ...qkvOperands(qkv, H), ...shape, mask: c.mask, lse: true });
    using o = fwd.out;
    using lse = fwd.lse!;
    const args = { qkv, o, lse, dout, batch: 1, heads: H, seq: S, mask: c.mask, dqkv };
    attentionBackward(args);
    const got = await dqkv.readFloat();

    // One head through the reference, as a single-head problem over strided views.
    const view = (slot: number) => ({
      data,
      rowStride: 3 * d,
      batchStride: S * 3 * d,
      offset: slot * d + CHECKED_HEAD * D,
    });
    const want = attentionBackwardRef(
      view(0),
      view(1),
      view(2),
      { data: g, rowStride: d, batchStride: S * d, offset: CHECKED_HEAD * D },
      { ...shape, heads: 1, scale: 1 / Math.sqrt(D) },
      c.mask,
    );
    const err = Math.max(
      relErr(got, want.dq, S, 3 * d, CHECKED_HEAD * D),
      relErr(got, want.dk, S, 3 * d, d + CHECKED_HEAD * D),
      relErr(got, want.dv, S, 3 * d, 2 * d + CHECKED_HEAD * D),
    );
    if (!(err < 1e-4)) {
      throw new Error(
        `attention backward ${c.name}: head ${CHECKED_HEAD} differs (rel err ${err})`,
      );
    }

    const opts = { warmup: 0, iters: 3, budgetMs: 10_000 };
    const ms = await timeGpu(gpu, () => void attentionBackward(args), opts);
    const fwdMs = await timeGpu(
      gpu,
      () => void attention({ ...qkvOperands(qkv, H), ...shape, mask: c.mask, out: o, lse }),
      opts,
    );
    const work = attentionWork(gpu, c.mask, S, S);
    const dense = 10 * S * S * D * H;
    emit({
      bench: "attention_backward",
      case: c.name,
      ms,
      forward_ms: fwdMs,
      ratio_to_forward: ms / fwdMs,
      seq: S,
      heads: H,
      headDim: D,
      gflops_dense: dense / (ms * 1e6),
      gflops_visible: (dense * work.visibleFraction) / (ms * 1e6),
      visible_fraction: work.visibleFraction,
      checked_rel_err: err,
    });
  }
}

if (import.meta.main) {
  const { acquireGpu } = await import("@blockdiff/core/deno");
  using session = await acquireGpu();
  await benchAttentionBackward(session.gpu);
}
