/**
 * Differentiable ops over `Var`s: each runs its forward kernel and, when the graph records
 * gradients, registers a closure that runs the backward kernels. These are the only places
 * that know which forward values a backward needs; the model composes them.
 * @module
 */
import { Tensor } from "@blockdiff/core";
import type { Graph, Param, Var } from "@blockdiff/core";
import { ShapeError } from "@blockdiff/core";
import {
  activation,
  activationBackward,
  attention,
  attentionBackward,
  type AttentionMask,
  buildEmbeddingCsr,
  colSum,
  dropout,
  dropoutBackward,
  embedding,
  embeddingBackward,
  layerNorm,
  layerNormBackward,
  logSoftmaxGather,
  logSoftmaxGatherBackward,
  matmul,
  type ModChunk,
  qkvOperands,
  residual,
  residualBackward,
  rotary,
  rotaryBackward,
  type RotaryOptions,
  type RotaryTable,
  type SeddInputs,
  seddLoss,
  seddLossBackward,
  uploadEmbeddingCsr,
  weightedSumAll,
} from "@blockdiff/kernels";

/** Rows of a tensor whose last axis is the feature axis. */
function rows(t: Tensor): number {
  return t.size / t.shape[t.shape.length - 1];
}

/** 2-D view [rows, features] (no copy). */
function flat2d(t: Tensor): Tensor {
  return t.reshape([rows(t), t.shape[t.shape.length - 1]]);
}

/** Token embedding lookup. `idsHost` (the same ids on the host) enables the backward. */
export function embed(g: Graph, ids: Tensor, idsHost: Int32Array | null, table: Param): Var {
  const out = g.wrap(embedding(ids, table.value), true);
  if (g.needsGrad(table)) {
    if (!idsHost) throw new ShapeError("embed: training needs the ids on the host (idsHost)");
    // Uploaded now: an upload submits recorded work, which is cheap before the forward.
    const csr = uploadEmbeddingCsr(g.gpu, buildEmbeddingCsr(idsHost, table.shape[0]));
    g.keep(csr.data);
    g.onBackward(() => {
      if (!out.grad) return;
      const t = g.gradInto(table);
      embeddingBackward(out.grad, csr, { out: t.out, accumulate: t.accumulate });
    });
  }
  return out;
}

/**
 * Half-precision copies of Linear weights for inference (see `Dit.useHalfWeights`): when a
 * product needs no gradient and has few rows (the row-dot GEMV of sampling), `linear` reads the
 * f16 copy, half the bytes of the f32 weight. Keyed by the parameter object.
 */
const halfWeights = new WeakMap<Param, Tensor>();

/** Registers (or with null, drops) the f16 copy `linear` may use for `weight`. */
export function setHalfWeight(weight: Param, half: Tensor | null): void {
  const old = halfWeights.get(weight);
  if (old && old !== half) old.dispose();
  if (half) halfWeights.set(weight, half);
  else halfWeights.delete(weight);
}

/** Rows up to which the f16 copy is used (the row-dot kernel's M). */
const HALF_MAX_ROWS = 4;

/** The weight tensor a grad-free product of `rows` rows reads. */
function weightFor(weight: Param, rows: number, grad: boolean): Tensor {
  if (grad || rows > HALF_MAX_ROWS) return weight.value;
  return halfWeights.get(weight) ?? weight.value;
}

function rowsOf(x: Var): number {
  return x.value.size / x.shape[x.shape.length - 1];
}

/** `x · Wᵀ + b` with W `[out, in]` (a PyTorch Linear). */
export function linear(g: Graph, x: Var, weight: Param, bias: Param | null): Var {
  const grad = g.needsGrad(x, weight, bias);
  const out = g.wrap(
    matmul(x.value, weightFor(weight, rowsOf(x), grad), {
      transB: true,
      bias: bias?.value ?? null,
    }),
    true,
  );
  if (grad) {
    g.onBackward(() => {
      const dy = out.grad;
      if (!dy) return;
      using dy2 = flat2d(dy);
      if (x.requiresGrad) {
        const t = g.gradTarget(x);
        using o = flat2d(t.out);
        matmul(dy2, weight.value, { out: o });
        g.accumulate(x, t);
      }
      if (weight.requiresGrad) {
        const t = g.gradTarget(weight);
        using x2 = flat2d(x.value);
        matmul(dy2, x2, { transA: true, out: t.out });
        g.accumulate(weight, t);
      }
      if (bias?.requiresGrad) {
        const t = g.gradInto(bias);
        colSum(dy2, { out: t.out, accumulate: t.accumulate });
      }
    });
  }
  return out;
}

/**
 * `GELU(x · Wᵀ + b)`: one fused matmul epilogue when no gradient is needed (inference), else
 * `linear` then `act` so the backward has the pre-activation.
 */
export function linearGelu(g: Graph, x: Var, weight: Param, bias: Param | null): Var {
  if (g.needsGrad(x, weight, bias)) return act(g, linear(g, x, weight, bias), "gelu");
  return g.wrap(
    matmul(x.value, weightFor(weight, rowsOf(x), false), {
      transB: true,
      bias: bias?.value ?? null,
      gelu: true,
    }),
    false,
  );
}

/** Elementwise GELU (tanh) or SiLU. */
export function act(g: Graph, x: Var, op: "gelu" | "silu"): Var {
  const out = g.wrap(activation(x.value, op), true);
  if (g.needsGrad(x)) {
    g.onBackward(() => {
      if (!out.grad) return;
      const t = g.gradTarget(x);
      activationBackward(out.grad, x.value, op, { dx: t.out });
      g.accumulate(x, t);
    });
  }
  return out;
}

/** adaLN modulation chunks taken from a `[B, n·d]` Var. */
export interface ModVar {
  /** The modulation Var, `[B, n·d]`. */
  mod: Var;
  /** Index of the shift chunk (width d) in `mod`. */
  shift: number;
  /** Index of the scale chunk (width d) in `mod`. */
  scale: number;
}

/** LayerNorm without bias, optionally fused with `⊙ (1 + scale) + shift`. */
export function norm(g: Graph, x: Var, weight: Param, m: ModVar | null): Var {
  const chunk = (c: number): ModChunk => ({ tensor: m!.mod.value, chunk: c });
  const out = g.wrap(
    layerNorm(x.value, weight.value, m ? { shift: chunk(m.shift), scale: chunk(m.scale) } : {}),
    true,
  );
  if (g.needsGrad(x, weight, m?.mod)) {
    g.onBackward(() => {
      if (!out.grad) return;
      const dx = x.requiresGrad ? g.gradInto(x) : null;
      // The modulation gradient is assembled chunk by chunk, so it starts at zero.
      const dmod = m?.mod.requiresGrad ? g.gradZeroed(m.mod) : null;
      layerNormBackward(out.grad, x.value, weight.value, {
        shift: m ? chunk(m.shift) : undefined,
        scale: m ? chunk(m.scale) : undefined,
        dx: dx?.out,
        accumulateDx: dx?.accumulate,
        dw: weight.requiresGrad ? g.gradInto(weight).out : undefined,
        dshift: dmod && m ? { tensor: dmod, chunk: m.shift } : undefined,
        dscale: dmod && m ? { tensor: dmod, chunk: m.scale } : undefined,
        accumulate: true,
      });
    });
  }
  return out;
}

/** Rotary embedding applied in place to the q and k slots of a qkv Var. */
export function rope(g: Graph, qkv: Var, table: RotaryTable, opts: RotaryOptions): Var {
  rotary(qkv.value, table, opts);
  if (g.needsGrad(qkv)) {
    g.onBackward(() => {
      // The gradient of a rotation is the inverse rotation of the gradient, done in place.
      if (qkv.grad) rotaryBackward(qkv.grad, table, opts);
    });
  }
  return qkv;
}

/** Multi-head attention over a qkv projection `[B, S, 3d]` → `[B, S, d]`. */
export function attend(g: Graph, qkv: Var, heads: number, mask: AttentionMask): Var {
  const [batch, seq] = qkv.shape;
  const ops = qkvOperands(qkv.value, heads);
  const record = g.needsGrad(qkv);
  const r = attention({
    ...ops,
    batch,
    heads,
    seqQ: seq,
    seqK: seq,
    mask,
    lse: record,
  });
  const out = g.wrap(r.out, true);
  if (record) {
    const lse = g.keep(r.lse!);
    g.onBackward(() => {
      if (!out.grad) return;
      const t = g.gradTarget(qkv);
      attentionBackward({
        qkv: qkv.value,
        o: out.value,
        lse,
        dout: out.grad,
        dqkv: t.out,
        batch,
        heads,
        seq,
        mask,
      });
      g.accumulate(qkv, t);
    });
  }
  return out;
}

/** Inverted dropout with a Philox mask recomputed in the backward (nothing stored). */
export function drop(g: Graph, x: Var, p: number, seed: number, offset: number): Var {
  if (!g.train || p === 0) return x;
  const out = g.wrap(dropout(x.value, { p, seed, offset }), true);
  if (g.needsGrad(x)) {
    g.onBackward(() => {
      if (!out.grad) return;
      const t = g.gradTarget(x);
      dropoutBackward(out.grad, { p, seed, offset, out: t.out });
      g.accumulate(x, t);
    });
  }
  return out;
}

/** `x + gate ⊙ y` with the gate a chunk of an adaLN modulation Var (or no gate). */
export function addGated(g: Graph, x: Var, y: Var, gate: { mod: Var; chunk: number } | null): Var {
  const gateChunk = gate ? { tensor: gate.mod.value, chunk: gate.chunk } : null;
  const out = g.wrap(residual(x.value, y.value, gateChunk), true);
  if (g.needsGrad(x, y, gate?.mod)) {
    g.onBackward(() => {
      const d = out.grad;
      if (!d) return;
      if (gate && gateChunk) {
        const dy = y.requiresGrad ? g.gradTarget(y) : null;
        const dmod = gate.mod.requiresGrad ? g.gradZeroed(gate.mod) : null;
        residualBackward(d, y.value, gateChunk, {
          dy: dy?.out,
          dgate: dmod ? { tensor: dmod, chunk: gate.chunk } : undefined,
          accumulate: true,
        });
        if (dy) g.accumulate(y, dy);
      } else if (y.requiresGrad) {
        g.passGrad(y, d);
      }
      // dx = dout: handed on last, since passGrad may share the tensor.
      if (x.requiresGrad) g.passGrad(x, d);
    });
  }
  return out;
}

/**
 * Copies rows [from, from + count) of every batch row of `src` `[B, S, W]` to rows
 * [at, at + count) of `dst` `[B, D, W]` (f32), one buffer copy per batch row.
 */
export function copyRowRange(
  src: Tensor,
  dst: Tensor,
  rows: { from: number; at: number; count: number },
): void {
  const [batch, seq, width] = src.shape;
  const dseq = dst.shape[1];
  const bytes = rows.count * width * 4;
  for (let b = 0; b < batch; b++) {
    src.gpu.copy(
      src.buffer,
      src.offset + (b * seq + rows.from) * width * 4,
      dst.buffer,
      dst.offset + (b * dseq + rows.at) * width * 4,
      bytes,
    );
  }
}

/** The first `keep` positions of every batch row of `[B, S, d]` (the x_t half of [x_t ; x0]). */
export function leadingRows(g: Graph, x: Var, keep: number): Var {
  const [batch, , width] = x.shape;
  const out = Tensor.empty(g.gpu, [batch, keep, width]);
  copyRowRange(x.value, out, { from: 0, at: 0, count: keep });
  const v = g.wrap(out, true);
  if (g.needsGrad(x)) {
    g.onBackward(() => {
      if (!v.grad) return;
      const full = g.keep(Tensor.zeros(g.gpu, x.shape));
      copyRowRange(v.grad, full, { from: 0, at: 0, count: keep });
      g.passGrad(x, full);
    });
  }
  return v;
}

/**
 * The last `keep` of S rows of `x` `[B, S, d]` as a new `[B, keep, d]` (inference only: no
 * gradient flows back). Used to project only the positions whose logits are wanted.
 */
export function trailingRows(g: Graph, x: Var, keep: number): Var {
  return rowRange(g, x, x.shape[1] - keep, keep);
}

/**
 * Rows [start, start + count) of every batch row of `x` `[B, S, d]` as a new `[B, count, d]`
 * (inference only: no gradient flows back).
 */
export function rowRange(g: Graph, x: Var, start: number, count: number): Var {
  const [batch, seq, width] = x.shape;
  if (
    !(Number.isInteger(start) && Number.isInteger(count) && start >= 0 && count >= 1 &&
      start + count <= seq)
  ) {
    throw new ShapeError(`rowRange: rows [${start}, ${start + count}) do not fit ${seq} rows`);
  }
  if (g.needsGrad(x)) throw new ShapeError("rowRange is for inference (no gradient)");
  const out = Tensor.empty(g.gpu, [batch, count, width]);
  copyRowRange(x.value, out, { from: start, at: 0, count });
  return g.wrap(out, true);
}

/** What a token loss is computed from. */
export type TokenLossKind =
  /** −log p(target) under the log-softmax of the logits, the mask column excluded (the `subs`
   * parameterization and the AR loss); rows whose target is negative contribute 0. */
  | { kind: "subs"; targets: Tensor; maskId: number }
  /** SEDD's score entropy (docs/design.md, "Losses"). */
  | { kind: "sedd"; inputs: SeddInputs };

/**
 * The scalar loss Σ_r weights[r] · ℓ_r over the rows of `logits` `[R, V]` (any leading shape),
 * and the per-row ℓ (kept for metrics). As the loss is the root of the backward, its backward
 * takes the upstream gradient to be 1 and writes `dlogits = weights ⊙ ∂ℓ/∂logits` directly.
 */
export function tokenLoss(
  g: Graph,
  logits: Var,
  loss: TokenLossKind,
  weights: Tensor,
): { total: Var; perRow: Tensor } {
  const x = logits.value;
  let perRow: Tensor;
  let lse: Tensor | null = null;
  if (loss.kind === "subs") {
    const r = logSoftmaxGather(x, loss.targets, { maskId: loss.maskId });
    perRow = g.keep(r.loss);
    lse = g.keep(r.lse);
  } else {
    perRow = g.keep(seddLoss(x, loss.inputs));
  }
  const total = g.wrap(weightedSumAll(perRow, weights), true);
  if (g.needsGrad(logits)) {
    g.onBackward(() => {
      const t = g.gradTarget(logits);
      if (loss.kind === "subs") {
        logSoftmaxGatherBackward(x, loss.targets, lse!, weights, {
          maskId: loss.maskId,
          out: t.out,
        });
      } else {
        seddLossBackward(x, loss.inputs, weights, { out: t.out });
      }
      g.accumulate(logits, t);
    });
  }
  return { total, perRow };
}
