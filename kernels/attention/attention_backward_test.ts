import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { type Gpu, ShapeError, Tensor } from "@blockdiff/core";
import assert from "node:assert/strict";
import {
  attention,
  type AttentionMask,
  type AttentionOperand,
  BlockTable,
  qkvOperands,
} from "./attention.ts";
import { attentionRef, type HostOperand, maskAllowed, type RefShape } from "./attention_ref.ts";
import {
  attentionBackward,
  attentionBackwardOperands,
  maskIntervals,
  visibleQueries,
} from "./attention_backward.ts";
import { attentionBackwardRef, packQkv } from "./attention_backward_ref.ts";
import { centralDifferences } from "../_finite_diff.ts";

const TOL = 1e-5;

function describe(mask: AttentionMask): string {
  const m = mask as { blockSize?: number; blockStarts?: number[] };
  const blocks = m.blockSize !== undefined
    ? ` b=${m.blockSize}`
    : m.blockStarts
    ? ` starts=${m.blockStarts}`
    : "";
  return `${mask.kind}${blocks}`;
}

/** The q, k, v host views of a qkv array `[B, S, 3d]`. */
function hostQkv(data: ArrayLike<number>, S: number, d: number) {
  const view = (slot: number): HostOperand => ({
    data,
    rowStride: 3 * d,
    batchStride: S * 3 * d,
    offset: slot * d,
  });
  return { q: view(0), k: view(1), v: view(2) };
}

/** Elements of slot `slot` (0 q, 1 k, 2 v) of a `[B, S, 3d]` array, as `[B, S, d]`. */
function slot(x: ArrayLike<number>, rows: number, d: number, s: number): Float64Array {
  const out = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < d; i++) out[r * d + i] = x[r * 3 * d + s * d + i];
  }
  return out;
}

Deno.test("attentionBackward: the row and key intervals equal the mask predicates", () => {
  const cases: [AttentionMask, number, number][] = [
    [{ kind: "full" }, 7, 9],
    [{ kind: "full" }, 9, 4],
    [{ kind: "causal" }, 13, 13],
    [{ kind: "causal" }, 5, 13],
    [{ kind: "blockCausal", blockSize: 4 }, 13, 13],
    [{ kind: "blockCausal", blockSize: 3 }, 6, 14],
    [{ kind: "blockCausal", blockStarts: [0, 1, 5, 6, 11] }, 14, 14],
    [{ kind: "blockCausal", blockStarts: [0, 2, 9] }, 4, 14],
    [{ kind: "bdTrain", blockSize: 2 }, 12, 12],
    [{ kind: "bdTrain", blockSize: 4 }, 22, 22],
    [{ kind: "bdTrain", blockSize: 11 }, 22, 22],
    [{ kind: "bdTrain", blockStarts: [0, 3, 4, 9] }, 22, 22],
  ];
  const within = ([x, y, z, w]: number[], i: number) => (i >= x && i < y) || (i >= z && i < w);
  for (const [mask, sq, sk] of cases) {
    const ok = maskAllowed(mask, sq, sk);
    const { keysOf, queriesOf } = maskIntervals(mask, sq, sk);
    for (let j = 0; j < sk; j++) {
      const seen = visibleQueries(mask, sq, sk, j);
      assert.deepEqual(queriesOf(j), seen);
      for (let r = 0; r < sq; r++) {
        const what = `${describe(mask)} Sq=${sq} Sk=${sk} key ${j} row ${r}`;
        assert.equal(within(seen, r), ok(r, j), what);
        assert.equal(within(keysOf(r), j), ok(r, j), what);
      }
    }
  }
});

Deno.test("attentionBackward: the float64 reference matches central finite differences", async (t) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const h = 1e-6;
  const masks: [AttentionMask, number][] = [
    [{ kind: "full" }, 9],
    [{ kind: "causal" }, 11],
    [{ kind: "blockCausal", blockSize: 3 }, 10],
    [{ kind: "blockCausal", blockStarts: [0, 1, 5, 6] }, 9],
    [{ kind: "bdTrain", blockSize: 2 }, 2 * 5],
    [{ kind: "bdTrain", blockStarts: [0, 2, 3] }, 2 * 6],
  ];
  for (const [mask, S] of masks) {
    await t.step(`${describe(mask)} S=${S}`, () => {
      const [B, H, D] = [2, 2, 4];
      const d = H * D;
      const shape: RefShape = { batch: B, heads: H, headDim: D, seqQ: S, seqK: S, scale: 0.7 };
      const data = Float64Array.from({ length: B * S * 3 * d }, () => rng.normal());
      const r = Float64Array.from({ length: B * S * d }, () => rng.normal());
      const loss = (x: Float64Array) => {
        const { q, k, v } = hostQkv(x, S, d);
        const { out } = attentionRef(q, k, v, shape, mask);
        let s = 0;
        for (let i = 0; i < out.length; i++) s += r[i] * out[i];
        return s;
      };
      const { q, k, v } = hostQkv(data, S, d);
      const grad = packQkv(
        attentionBackwardRef(q, k, v, { data: r, rowStride: d, batchStride: S * d }, shape, mask),
        B,
        S,
      );
      // 12 sampled entries of each of the q, k and v slots.
      const picks: number[] = [];
      for (let s = 0; s < 3; s++) {
        for (let n = 0; n < 12; n++) {
          const row = rng.int(0, B * S - 1);
          picks.push(row * 3 * d + s * d + rng.int(0, d - 1));
        }
      }
      const fd = centralDifferences(() => [loss(data)], [1], data, picks, h);
      const err = assertClose(picks.map((i) => grad[i]), fd, 1e-6, `${describe(mask)} FD`, seed);
      console.log(`    rel err vs FD ${err.toExponential(2)}`);
    });
  }
});

interface QkvCase {
  mask: AttentionMask;
  B: number;
  H: number;
  S: number;
  D: number;
  scale?: number;
  /** Take o and lse from the GPU forward (else from the float64 forward, rounded to f32). */
  gpuForward?: boolean;
}

/** o and lse for the backward: from the GPU forward, or the float64 reference uploaded. */
function forward(
  gpu: Gpu,
  ops: { q: AttentionOperand; k: AttentionOperand; v: AttentionOperand },
  host: { q: HostOperand; k: HostOperand; v: HostOperand },
  shape: RefShape,
  mask: AttentionMask,
  onGpu: boolean,
): { o: Tensor; lse: Tensor } {
  if (onGpu) {
    const f = attention({ ...ops, ...shape, mask, lse: true });
    return { o: f.out, lse: f.lse! };
  }
  const { batch: B, heads: H, headDim: D, seqQ } = shape;
  const f = attentionRef(host.q, host.k, host.v, shape, mask);
  return {
    o: Tensor.from(gpu, f.out, [B, seqQ, H * D]),
    lse: Tensor.from(gpu, f.lse, [B, H, seqQ]),
  };
}

async function runQkv(gpu: Gpu, rng: Rng, seed: number, c: QkvCase): Promise<number> {
  const { B, H, S, D, mask } = c;
  const d = H * D;
  const data = rng.normals(B * S * 3 * d);
  const g = rng.normals(B * S * d);
  using qkv = Tensor.from(gpu, data, [B, S, 3 * d]);
  using dout = Tensor.from(gpu, g, [B, S, d]);
  const shape = { batch: B, heads: H, headDim: D, seqQ: S, seqK: S, scale: c.scale };
  const host = hostQkv(data, S, d);
  const fwd = forward(gpu, qkvOperands(qkv, H), host, shape, mask, c.gpuForward ?? false);
  using o = fwd.o;
  using lse = fwd.lse;
  using dqkv = poisoned(gpu, [B, S, 3 * d]);
  const ret = attentionBackward({
    qkv,
    o,
    lse,
    dout,
    batch: B,
    heads: H,
    seq: S,
    mask,
    scale: c.scale,
    dqkv,
  });
  assert.equal(ret, dqkv);
  const want = attentionBackwardRef(
    host.q,
    host.k,
    host.v,
    { data: g, rowStride: d, batchStride: S * d },
    shape,
    mask,
  );
  const got = await dqkv.readFloat();
  let worst = 0;
  for (const [s, name] of [[0, "dq"], [1, "dk"], [2, "dv"]] as const) {
    const ref = [want.dq, want.dk, want.dv][s];
    const err = assertClose(slot(got, B * S, d, s), ref, TOL, `${describe(mask)} ${name}`, seed);
    worst = Math.max(worst, err);
  }
  return worst;
}

gpuTest(
  "attentionBackward: every mask against the float64 reference (qkv form)",
  async (t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    const cases: QkvCase[] = [
      { mask: { kind: "full" }, B: 1, H: 1, S: 1, D: 8 },
      { mask: { kind: "full" }, B: 2, H: 3, S: 37, D: 32, gpuForward: true },
      { mask: { kind: "full" }, B: 1, H: 2, S: 19, D: 6 }, // D % 4 != 0: scalar path
      { mask: { kind: "full" }, B: 1, H: 2, S: 21, D: 64, scale: 0.3 },
      { mask: { kind: "causal" }, B: 1, H: 1, S: 1, D: 8 },
      { mask: { kind: "causal" }, B: 2, H: 2, S: 45, D: 32 },
      { mask: { kind: "causal" }, B: 1, H: 3, S: 23, D: 13 },
      { mask: { kind: "blockCausal", blockSize: 4 }, B: 2, H: 2, S: 37, D: 8 },
      { mask: { kind: "blockCausal", blockSize: 5 }, B: 1, H: 2, S: 33, D: 64 },
      {
        mask: { kind: "blockCausal", blockStarts: [0, 3, 4, 11, 20, 27] },
        B: 2,
        H: 2,
        S: 30,
        D: 8,
      },
      { mask: { kind: "bdTrain", blockSize: 2 }, B: 1, H: 2, S: 12, D: 8 },
      { mask: { kind: "bdTrain", blockSize: 4 }, B: 2, H: 2, S: 2 * 21, D: 32 },
      { mask: { kind: "bdTrain", blockSize: 16 }, B: 1, H: 1, S: 2 * 40, D: 64, gpuForward: true },
      { mask: { kind: "bdTrain", blockSize: 1 }, B: 1, H: 1, S: 2, D: 8 },
      { mask: { kind: "bdTrain", blockStarts: [0, 1, 6, 7, 15] }, B: 2, H: 3, S: 2 * 19, D: 12 },
      { mask: { kind: "bdTrain", blockStarts: [0, 5, 8] }, B: 1, H: 2, S: 2 * 13, D: 10 },
    ];
    for (const c of cases) {
      await t.step(`${describe(c.mask)} B=${c.B} H=${c.H} S=${c.S} D=${c.D}`, async () => {
        const err = await runQkv(gpu, rng, seed, c);
        console.log(`    rel err ${err.toExponential(2)}`);
      });
    }
  },
);

gpuTest("attentionBackward: a prebuilt BlockTable equals blockStarts", async (_t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const [B, H, D, L] = [1, 2, 16, 18];
  const S = 2 * L;
  const d = H * D;
  const starts = [0, 5, 8, 16];
  using qkv = Tensor.from(gpu, rng.normals(B * S * 3 * d), [B, S, 3 * d]);
  using dout = Tensor.from(gpu, rng.normals(B * S * d), [B, S, d]);
  using table = BlockTable.create(gpu, starts, L);
  const base = { batch: B, heads: H, headDim: D, seqQ: S, seqK: S };
  const fwd = attention({
    ...qkvOperands(qkv, H),
    ...base,
    mask: { kind: "bdTrain", blocks: table },
    lse: true,
  });
  using o = fwd.out;
  using lse = fwd.lse!;
  const args = { qkv, o, lse, dout, batch: B, heads: H, seq: S };
  using a = attentionBackward({ ...args, mask: { kind: "bdTrain", blocks: table } });
  using b = attentionBackward({ ...args, mask: { kind: "bdTrain", blockStarts: starts } });
  const want = await b.readFloat();
  assert.ok(want.every(Number.isFinite));
  // Same kernel arithmetic, so the results agree bit for bit.
  assert.deepEqual(await a.readFloat(), want);
});

gpuTest("attentionBackward: is deterministic (no atomics)", async (_t, gpu) => {
  const rng = new Rng(freshSeed());
  const [B, H, D, S] = [1, 2, 32, 29];
  const d = H * D;
  using qkv = Tensor.from(gpu, rng.normals(B * S * 3 * d), [B, S, 3 * d]);
  using dout = Tensor.from(gpu, rng.normals(B * S * d), [B, S, d]);
  const mask: AttentionMask = { kind: "causal" };
  const fwd = attention({
    ...qkvOperands(qkv, H),
    batch: B,
    heads: H,
    headDim: D,
    seqQ: S,
    seqK: S,
    mask,
    lse: true,
  });
  using o = fwd.out;
  using lse = fwd.lse!;
  const args = { qkv, o, lse, dout, batch: B, heads: H, seq: S, mask };
  using a = attentionBackward(args);
  using b = attentionBackward(args);
  assert.deepEqual(await a.readFloat(), await b.readFloat());
});

interface OperandCase {
  name: string;
  mask: AttentionMask;
  B: number;
  H: number;
  D: number;
  Sq: number;
  Sk: number;
  /** bhsd: inputs and gradients as separate heads-major tensors with a 1-element lead pad. */
  layout: "bhsd" | "dense";
}

gpuTest("attentionBackward: strided operands and separate gradients", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const cases: OperandCase[] = [
    { name: "full", mask: { kind: "full" }, B: 2, H: 2, D: 13, Sq: 21, Sk: 21, layout: "bhsd" },
    { name: "cached", mask: { kind: "cached" }, B: 2, H: 3, D: 16, Sq: 4, Sk: 41, layout: "bhsd" },
    {
      name: "cached",
      mask: { kind: "cached" },
      B: 1,
      H: 2,
      D: 64,
      Sq: 16,
      Sk: 53,
      layout: "dense",
    },
    { name: "cached", mask: { kind: "cached" }, B: 1, H: 1, D: 8, Sq: 9, Sk: 3, layout: "dense" },
    {
      name: "causal tail",
      mask: { kind: "causal" },
      B: 1,
      H: 2,
      D: 8,
      Sq: 5,
      Sk: 29,
      layout: "bhsd",
    },
    {
      name: "blockCausal tail",
      mask: { kind: "blockCausal", blockSize: 4 },
      B: 2,
      H: 1,
      D: 12,
      Sq: 6,
      Sk: 26,
      layout: "dense",
    },
    {
      name: "bdTrain",
      mask: { kind: "bdTrain", blockStarts: [0, 2, 7] },
      B: 1,
      H: 2,
      D: 10,
      Sq: 2 * 11,
      Sk: 2 * 11,
      layout: "bhsd",
    },
  ];
  for (const c of cases) {
    const label = `${c.name} ${
      describe(c.mask)
    } B=${c.B} H=${c.H} Sq=${c.Sq} Sk=${c.Sk} D=${c.D} ${c.layout}`;
    await t.step(label, async () => {
      const { B, H, D, Sq, Sk, mask } = c;
      const d = H * D;
      const tensors: Tensor[] = [];
      // Inputs and outputs alike: dense [B, S, d], or heads-major [B, H, S, D] after one pad element.
      const operand = (S: number, data: Float32Array | null) => {
        const bhsd = c.layout === "bhsd";
        const n = bhsd ? 1 + B * H * S * D : B * S * d;
        const host = data ?? new Float32Array(n).fill(NaN);
        const tensor = Tensor.from(gpu, host, [n]);
        tensors.push(tensor);
        const view = bhsd
          ? { rowStride: D, headStride: S * D, batchStride: H * S * D, offset: 1 }
          : { rowStride: d, batchStride: S * d };
        return {
          g: { ...view, tensor } as AttentionOperand,
          h: { ...view, data: host } as HostOperand,
        };
      };
      const size = (S: number) => (c.layout === "bhsd" ? 1 + B * H * S * D : B * S * d);
      const q = operand(Sq, rng.normals(size(Sq)));
      const k = operand(Sk, rng.normals(size(Sk)));
      const v = operand(Sk, rng.normals(size(Sk)));
      const gData = rng.normals(B * Sq * d);
      using dout = Tensor.from(gpu, gData, [B, Sq, d]);
      const shape = { batch: B, heads: H, headDim: D, seqQ: Sq, seqK: Sk };
      const fwd = forward(
        gpu,
        { q: q.g, k: k.g, v: v.g },
        { q: q.h, k: k.h, v: v.h },
        shape,
        mask,
        false,
      );
      using o = fwd.o;
      using lse = fwd.lse;
      const dq = operand(Sq, null);
      const dk = operand(Sk, null);
      const dv = operand(Sk, null);
      const grads = attentionBackwardOperands({
        q: q.g,
        k: k.g,
        v: v.g,
        o,
        lse,
        dout,
        ...shape,
        mask,
        dq: dq.g,
        dk: dk.g,
        dv: dv.g,
      });
      assert.equal(grads.dk, dk.g.tensor);
      const want = attentionBackwardRef(
        q.h,
        k.h,
        v.h,
        { data: gData, rowStride: d, batchStride: Sq * d },
        shape,
        mask,
      );
      // Gather each gradient view into [B, S, d] (and check the pad element stayed untouched).
      const gather = async (op: { g: AttentionOperand }, S: number) => {
        const all = await op.g.tensor.readFloat();
        if (c.layout === "bhsd") assert.ok(Number.isNaN(all[0]), "pad element was written");
        const out = new Float64Array(B * S * d);
        const hs = op.g.headStride ?? D;
        for (let b = 0; b < B; b++) {
          for (let s = 0; s < S; s++) {
            for (let hh = 0; hh < H; hh++) {
              for (let i = 0; i < D; i++) {
                out[(b * S + s) * d + hh * D + i] = all[
                  (op.g.offset ?? 0) + b * op.g.batchStride + s * op.g.rowStride + hh * hs + i
                ];
              }
            }
          }
        }
        return out;
      };
      let worst = 0;
      for (
        const [name, op, S, ref] of [
          ["dq", dq, Sq, want.dq],
          ["dk", dk, Sk, want.dk],
          ["dv", dv, Sk, want.dv],
        ] as const
      ) {
        worst = Math.max(
          worst,
          assertClose(await gather(op, S), ref, TOL, `${label} ${name}`, seed),
        );
      }
      console.log(`    rel err ${worst.toExponential(2)}`);
      for (const x of tensors) x.dispose();
    });
  }
});

gpuTest("attentionBackward: shape and aliasing errors", (_t, gpu) => {
  using qkv = Tensor.zeros(gpu, [1, 4, 24]);
  using o = Tensor.zeros(gpu, [1, 4, 8]);
  using lse = Tensor.zeros(gpu, [1, 2, 4]);
  const base = {
    qkv,
    o,
    lse,
    dout: o,
    batch: 1,
    heads: 2,
    seq: 4,
    mask: { kind: "full" } as const,
  };
  assert.throws(
    () => attentionBackward({ ...base, seq: 5 }),
    (e) => e instanceof ShapeError && /\[1, 4, 24\]/.test(e.message),
  );
  assert.throws(() => attentionBackward({ ...base, dqkv: qkv }), ShapeError);
  assert.throws(
    () => attentionBackward({ ...base, mask: { kind: "bdTrain", blockSize: 2, blockStarts: [0] } }),
    ShapeError,
  );
  using dqkv = Tensor.zeros(gpu, [1, 4, 24]);
  using view = dqkv.reshape([4, 24]);
  const ops = qkvOperands(qkv, 2);
  const g = qkvOperands(dqkv, 2);
  assert.throws(
    () =>
      attentionBackwardOperands({
        ...ops,
        o,
        lse,
        dout: o,
        batch: 1,
        heads: 2,
        headDim: 4,
        seqQ: 4,
        seqK: 4,
        mask: { kind: "full" },
        dk: g.k,
        dv: { ...g.v, tensor: view },
      }),
    ShapeError,
  );
  return Promise.resolve();
});
