/**
 * The kernel self-check behind `bd3 demo`: every forward kernel runs once on fresh random
 * inputs of awkward sizes and is compared with its float64 CPU reference. It is a quick
 * health check of an adapter (a driver bug shows up as a large relative error), not a
 * replacement for the tests.
 * @module
 */
import { type Gpu, mulberry32, Tensor } from "@blockdiff/core";
import { matmul, type MatmulVariant } from "./matmul/matmul.ts";
import { matmulRef } from "./matmul/matmul_ref.ts";
import { attention, type AttentionMask, qkvOperands } from "./attention/attention.ts";
import { attentionRef } from "./attention/attention_ref.ts";
import { layerNorm } from "./layer_norm/layer_norm.ts";
import { layerNormRef } from "./layer_norm/layer_norm_ref.ts";
import { rotary, RotaryTable } from "./rotary/rotary.ts";
import { rotaryRef } from "./rotary/rotary_ref.ts";
import { activation } from "./activation/activation.ts";
import { activationRef } from "./activation/activation_ref.ts";
import { softmax } from "./softmax/softmax.ts";
import { softmaxRef } from "./softmax/softmax_ref.ts";
import { logSoftmaxGather } from "./log_softmax/log_softmax.ts";
import { logSoftmaxGatherRef } from "./log_softmax/log_softmax_ref.ts";
import { embedding } from "./embedding/embedding.ts";
import { embeddingRef } from "./embedding/embedding_ref.ts";
import { residual } from "./residual/residual.ts";
import { residualRef } from "./residual/residual_ref.ts";
import { rowSum } from "./reduce/reduce.ts";
import { reduceRowsRef } from "./reduce/reduce_ref.ts";
import { philoxBits } from "./philox/philox.ts";
import { philoxBitsRef } from "./philox/philox_ref.ts";

/** One kernel's verdict. */
export interface SelfTestResult {
  /** Name of the kernel checked. */
  kernel: string;
  /** Relative L2 error against the reference (Infinity on a NaN). */
  relErr: number;
  /** Whether `relErr` is below the tolerance. */
  ok: boolean;
  /** Extra detail on the case run. */
  note?: string;
}

/** Seeded inputs uniform in [-1, 1). */
function rng(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() * 2 - 1;
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    if (Number.isNaN(a[i])) return Infinity;
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/**
 * Runs every kernel once against its reference; `onResult` is called as each finishes.
 * @param tolerance relative error above which a kernel fails (f32 kernels reach ~1e-7)
 */
export async function selfTest(
  gpu: Gpu,
  seed: number,
  onResult: (r: SelfTestResult) => void = () => {},
  tolerance = 1e-4,
): Promise<SelfTestResult[]> {
  const rand = rng(seed);
  const vec = (n: number) => Float32Array.from({ length: n }, rand);
  const results: SelfTestResult[] = [];
  const check = async (kernel: string, out: Tensor, want: ArrayLike<number>, note?: string) => {
    const got = await out.read();
    out.dispose();
    const e = relErr(got, want);
    const r = { kernel, relErr: e, ok: e < tolerance, note };
    results.push(r);
    onResult(r);
  };

  // matmul: every variant the adapter can run, at sizes that are not multiples of any tile.
  const [M, K, N] = [37, 45, 51];
  const a = vec(M * K), w = vec(N * K), bias = vec(N);
  using ta = Tensor.from(gpu, a, [M, K]);
  using tw = Tensor.from(gpu, w, [N, K]);
  using tb = Tensor.from(gpu, bias, [N]);
  const variants: MatmulVariant[] = ["tiled", "naive", "gemv"];
  if (gpu.features.subgroups && gpu.info.subgroupMinSize >= 8) variants.unshift("subgroup");
  const wantMm = matmulRef(a, w, { batch: 1, m: M, n: N, k: K, transB: true, bias, gelu: true });
  for (const variant of variants) {
    const t0 = performance.now();
    const out = matmul(ta, tw, { transB: true, bias: tb, gelu: true, variant });
    await check(
      `matmul ${variant} ${M}×${K}×${N} +bias +gelu`,
      out,
      wantMm,
      `${(performance.now() - t0).toFixed(1)} ms`,
    );
  }

  // attention: every mask mode on a qkv projection.
  const [B, S, H, D] = [2, 19, 3, 8];
  const d = H * D;
  const qkvHost = vec(B * S * 3 * d);
  using qkv = Tensor.from(gpu, qkvHost, [B, S, 3 * d]);
  const ops = qkvOperands(qkv, H);
  const hostOp = (slot: number) => ({
    data: qkvHost,
    rowStride: 3 * d,
    batchStride: S * 3 * d,
    offset: slot * d,
  });
  const masks: [string, AttentionMask, number][] = [
    ["full", { kind: "full" }, S],
    ["causal", { kind: "causal" }, S],
    ["blockCausal b=4", { kind: "blockCausal", blockSize: 4 }, S],
    ["bdTrain L=9 b=3", { kind: "bdTrain", blockSize: 3 }, 18],
  ];
  for (const [name, mask, seq] of masks) {
    const { out } = attention({
      ...ops,
      batch: B,
      heads: H,
      headDim: D,
      seqQ: seq,
      seqK: seq,
      mask,
    });
    const ref = attentionRef(hostOp(0), hostOp(1), hostOp(2), {
      batch: B,
      heads: H,
      headDim: D,
      seqQ: seq,
      seqK: seq,
    }, mask);
    await check(`attention ${name}`, out, ref.out);
  }

  // LayerNorm with adaLN modulation.
  const width = 33, rowsN = 2 * 7;
  const x = vec(rowsN * width), lnw = vec(width), mod = vec(2 * 6 * width);
  using tx = Tensor.from(gpu, x, [2, 7, width]);
  using tlnw = Tensor.from(gpu, lnw, [width]);
  using tmod = Tensor.from(gpu, mod, [2, 6 * width]);
  await check(
    "layerNorm + adaLN modulate",
    layerNorm(tx, tlnw, { shift: { tensor: tmod, chunk: 0 }, scale: { tensor: tmod, chunk: 1 } }),
    layerNormRef(x, lnw, width, 1e-5, {
      shift: { data: mod, stride: 6 * width, chunk: 0 },
      scale: { data: mod, stride: 6 * width, chunk: 1 },
      batch: 2,
    }),
  );

  // Rotary in place on q and k.
  using table = RotaryTable.create(gpu, D, 64);
  using rq = Tensor.from(gpu, qkvHost, [B, S, 3 * d]);
  rotary(rq, table, { posOffset: 5 });
  await check("rotary (offset 5)", rq.clone(), rotaryRef(qkvHost, B, S, d, D, (s) => s + 5));

  // Activations, softmax and the fused loss.
  await check("gelu (tanh)", activation(tx, "gelu"), activationRef(x, "gelu"));
  await check("silu", activation(tx, "silu"), activationRef(x, "silu"));
  const V = 257;
  const logits = vec(5 * V).map((v) => v * 8);
  using tl = Tensor.from(gpu, logits, [5, V]);
  await check(`softmax (n=${V})`, softmax(tl), softmaxRef(logits, V));
  const targets = [3, 0, 255, 17, 100];
  using tt = Tensor.from(gpu, targets, [5], "i32");
  const lg = logSoftmaxGather(tl, tt, { maskId: 256 });
  lg.lse.dispose();
  await check(
    "log-softmax + gather (mask column)",
    lg.loss,
    logSoftmaxGatherRef(logits, targets, V, 256).loss,
  );

  // Embedding, residual, reductions, random bits.
  const table2 = vec(11 * width);
  const ids = [0, 10, 3, 3, 7, 1];
  using te = Tensor.from(gpu, table2, [11, width]);
  using ti = Tensor.from(gpu, ids, [6], "i32");
  await check("embedding", embedding(ti, te), embeddingRef(ids, table2, 11, width));
  const y = vec(rowsN * width), gate = vec(2 * width);
  using ty = Tensor.from(gpu, y, [2, 7, width]);
  using tg = Tensor.from(gpu, gate, [2, width]);
  await check("residual + gate", residual(tx, ty, tg), residualRef(x, y, gate, 2, width));
  await check("row sum", rowSum(tx), reduceRowsRef(x, null, width, "sum"));
  const bits = philoxBits(gpu, [1001], { seed: seed, offset: 3 });
  const want = philoxBitsRef(1001, [seed >>> 0, 0], [3, 0]);
  const got = await bits.read();
  bits.dispose();
  const same = got.every((v, i) => v === want[i]);
  const r = { kernel: "philox4x32-10 (bit-exact)", relErr: same ? 0 : 1, ok: same };
  results.push(r);
  onResult(r);
  return results;
}
