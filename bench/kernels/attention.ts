/**
 * Attention benchmark: one JSON line per mask at L = 1024, 12 heads of 64, batch 1, with the
 * dense-equivalent and the mask-visible GFLOP/s, the share of score tiles skipped and the time
 * relative to full attention. Each output is checked against the float64 reference on a few
 * sampled query rows before it is timed.
 * @module
 */
import { type Gpu, Rng, Tensor } from "@blockdiff/core";
import {
  attention,
  type AttentionArgs,
  type AttentionMask,
  attentionWork,
  qkvOperands,
} from "@blockdiff/kernels";
import { attentionRef } from "@blockdiff/kernels";
import { emit, timeGpu } from "../harness.ts";

const H = 12;
const D = 64;
const L = 1024;

/** Runs the attention benchmark; `matmulGflops` (if known) adds the ratio to a matmul's rate. */
export async function benchAttention(
  gpu: Gpu,
  opts: { matmulGflops?: number } = {},
): Promise<void> {
  const rng = new Rng(1234);
  const d = H * D;
  const cases: { name: string; S: number; Sq?: number; mask: AttentionMask }[] = [
    { name: "full", S: L, mask: { kind: "full" } },
    { name: "causal", S: L, mask: { kind: "causal" } },
    { name: "blockCausal b=16", S: L, mask: { kind: "blockCausal", blockSize: 16 } },
    { name: "bdTrain L=1024 b=16", S: 2 * L, mask: { kind: "bdTrain", blockSize: 16 } },
    { name: "cached Sq=16 Sk=1024", S: L, Sq: 16, mask: { kind: "cached" } },
  ];
  let fullMs = NaN;
  for (const c of cases) {
    const seqK = c.S;
    const seqQ = c.Sq ?? c.S;
    const data = rng.normals(seqK * 3 * d);
    using qkv = Tensor.from(gpu, data, [1, seqK, 3 * d]);
    const ops = qkvOperands(qkv, H);
    // Cached mode: the queries are the last Sq rows (the current block).
    const q = c.Sq ? { ...ops.q, offset: (seqK - seqQ) * 3 * d } : ops.q;
    const args: AttentionArgs = {
      q,
      k: ops.k,
      v: ops.v,
      batch: 1,
      heads: H,
      headDim: D,
      seqQ,
      seqK,
      mask: c.mask,
    };
    using out = Tensor.empty(gpu, [1, seqQ, d]);
    attention({ ...args, out });
    const got = await out.readFloat();
    const rows = [0, Math.floor(seqQ / 3), Math.floor((2 * seqQ) / 3) + 1, seqQ - 1].filter((r) =>
      r < seqQ
    );
    const want = attentionRef(
      { ...q, data },
      { ...ops.k, data },
      { ...ops.v, data },
      { batch: 1, heads: H, headDim: D, seqQ, seqK },
      c.mask,
      rows,
    );
    let num = 0, den = 0;
    for (const r of rows) {
      for (let i = r * d; i < (r + 1) * d; i++) {
        num += (got[i] - want.out[i]) ** 2;
        den += want.out[i] ** 2;
      }
    }
    const relErr = Math.sqrt(num / den);
    if (!(relErr < 1e-4)) {
      throw new Error(`attention ${c.name}: sampled rows differ (rel err ${relErr})`);
    }

    const ms = await timeGpu(gpu, () => attention({ ...args, out }), {
      warmup: 0,
      iters: 3,
      budgetMs: 10_000,
    });
    if (c.mask.kind === "full") fullMs = ms;
    const work = attentionWork(gpu, c.mask, seqQ, seqK);
    const dense = 4 * seqQ * seqK * D * H;
    const visible = dense * work.visibleFraction;
    const gflopsVisible = visible / (ms * 1e6);
    emit({
      bench: "attention",
      case: c.name,
      ms,
      seqQ,
      seqK,
      heads: H,
      headDim: D,
      gflops_dense: dense / (ms * 1e6),
      gflops_visible: gflopsVisible,
      visible_fraction: work.visibleFraction,
      skipped_fraction: work.skippedFraction,
      ratio_to_full: ms / fullMs,
      ...(opts.matmulGflops ? { vs_matmul: gflopsVisible / opts.matmulGflops } : {}),
      sampled_rel_err: relErr,
    });
  }
}

if (import.meta.main) {
  const { acquireGpu } = await import("@blockdiff/core/deno");
  using session = await acquireGpu();
  await benchAttention(session.gpu);
}
