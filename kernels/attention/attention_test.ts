import { assertClose, freshSeed, gpuTest, poisoned, Rng } from "@blockdiff/core/testing";
import { type Gpu, ShapeError, Tensor } from "@blockdiff/core";
import assert from "node:assert/strict";
import {
  attention,
  type AttentionMask,
  type AttentionOperand,
  attentionWork,
  BlockTable,
  qkvOperands,
  visibleRanges,
} from "./attention.ts";
import { attentionRef, type HostOperand, maskAllowed, maskMatrix } from "./attention_ref.ts";

const TOL = 1e-5;

Deno.test("attention: bdTrain mask reproduces a hand-written L = 6, b = 2 example", () => {
  const spec = [
    "110000000000",
    "110000000000",
    "001100110000",
    "001100110000",
    "000011111100",
    "000011111100",
    "000000110000",
    "000000110000",
    "000000111100",
    "000000111100",
    "000000111111",
    "000000111111",
  ];
  const got = maskMatrix({ kind: "bdTrain", blockSize: 2 }, 12, 12)
    .map((row) => row.map((x) => (x ? "1" : "0")).join(""));
  assert.deepEqual(got, spec);
  // The same blocks given as explicit boundaries.
  const varGot = maskMatrix({ kind: "bdTrain", blockStarts: [0, 2, 4] }, 12, 12)
    .map((row) => row.map((x) => (x ? "1" : "0")).join(""));
  assert.deepEqual(varGot, spec);
});

Deno.test("attention: the kernel's visible intervals equal the reference's mask predicates", () => {
  const cases: [AttentionMask, number, number][] = [
    [{ kind: "full" }, 7, 9],
    [{ kind: "causal" }, 13, 13],
    [{ kind: "causal" }, 5, 13],
    [{ kind: "blockCausal", blockSize: 4 }, 13, 13],
    [{ kind: "blockCausal", blockSize: 3 }, 6, 14],
    [{ kind: "blockCausal", blockStarts: [0, 1, 5, 6, 11] }, 14, 14],
    [{ kind: "bdTrain", blockSize: 2 }, 12, 12],
    [{ kind: "bdTrain", blockSize: 4 }, 22, 22],
    [{ kind: "bdTrain", blockStarts: [0, 3, 4, 9] }, 22, 22],
  ];
  for (const [mask, sq, sk] of cases) {
    const ok = maskAllowed(mask, sq, sk);
    for (let r = 0; r < sq; r++) {
      const [x, y, z, w] = visibleRanges(mask, sq, sk, r);
      for (let j = 0; j < sk; j++) {
        const inside = (j >= x && j < y) || (j >= z && j < w);
        assert.equal(
          inside,
          ok(r, j),
          `${JSON.stringify(mask)} Sq=${sq} Sk=${sk} row ${r} key ${j}`,
        );
      }
    }
  }
});

/** Random attention case: returns GPU operands plus their host copies. */
interface Case {
  name: string;
  B: number;
  H: number;
  D: number;
  Sq: number;
  Sk: number;
  mask: AttentionMask;
  /**
   * qkv: q, k, v from one [B, S, 3d] tensor; bhsd: separate [B, H, S, D] tensors, odd offset;
   * cache: separate aligned [B, S, H·D] tensors, as the KV cache binds them.
   */
  layout: "qkv" | "bhsd" | "cache";
  /** Forced split-KV ranges (undefined: the launcher's choice). */
  split?: number;
}

function makeOperands(gpu: Gpu, rng: Rng, c: Case) {
  const { B, H, D, Sq, Sk } = c;
  const d = H * D;
  if (c.layout === "qkv") {
    const data = rng.normals(B * Sq * 3 * d);
    const t = Tensor.from(gpu, data, [B, Sq, 3 * d]);
    const ops = qkvOperands(t, H);
    const host = (o: AttentionOperand): HostOperand => ({ ...o, data });
    return { tensors: [t], gpu: ops, host: { q: host(ops.q), k: host(ops.k), v: host(ops.v) } };
  }
  if (c.layout === "cache") {
    const one = (S: number) => {
      const data = rng.normals(B * S * H * D);
      const t = Tensor.from(gpu, data, [B, S, H * D]);
      const op = { rowStride: H * D, headStride: D, batchStride: S * H * D };
      return { t, g: { ...op, tensor: t } as AttentionOperand, h: { ...op, data } as HostOperand };
    };
    const q = one(Sq), k = one(Sk), v = one(Sk);
    return {
      tensors: [q.t, k.t, v.t],
      gpu: { q: q.g, k: k.g, v: v.g },
      host: { q: q.h, k: k.h, v: v.h },
    };
  }
  // Heads-major [B, H, S, D] with a leading pad of 1 element, so the scalar path runs.
  const one = (S: number) => {
    const data = rng.normals(1 + B * H * S * D);
    const t = Tensor.from(gpu, data, [data.length]);
    const op = { rowStride: D, headStride: S * D, batchStride: H * S * D, offset: 1 };
    return { t, g: { ...op, tensor: t } as AttentionOperand, h: { ...op, data } as HostOperand };
  };
  const q = one(Sq), k = one(Sk), v = one(Sk);
  return {
    tensors: [q.t, k.t, v.t],
    gpu: { q: q.g, k: k.g, v: v.g },
    host: { q: q.h, k: k.h, v: v.h },
  };
}

async function runCase(gpu: Gpu, rng: Rng, seed: number, c: Case): Promise<number> {
  const { B, H, D, Sq, Sk } = c;
  const ops = makeOperands(gpu, rng, c);
  using out = poisoned(gpu, [B, Sq, H * D]);
  using lse = poisoned(gpu, [B, H, Sq]);
  attention({
    ...ops.gpu,
    batch: B,
    heads: H,
    headDim: D,
    seqQ: Sq,
    seqK: Sk,
    mask: c.mask,
    out,
    lse,
    split: c.split,
  });
  const want = attentionRef(ops.host.q, ops.host.k, ops.host.v, {
    batch: B,
    heads: H,
    headDim: D,
    seqQ: Sq,
    seqK: Sk,
  }, c.mask);
  const err = assertClose(await out.readFloat(), want.out, TOL, `${c.name} out`, seed);
  assertClose(await lse.readFloat(), want.lse, TOL, `${c.name} lse`, seed);
  for (const t of ops.tensors) t.dispose();
  return err;
}

gpuTest("attention: every mask against the float64 reference", async (t, gpu) => {
  const seed = freshSeed();
  const rng = new Rng(seed);
  const cases: Case[] = [];
  const add = (
    mask: AttentionMask,
    B: number,
    H: number,
    S: number,
    D: number,
    layout: Case["layout"] = "qkv",
  ) => cases.push({ name: `${mask.kind}`, B, H, D, Sq: S, Sk: S, mask, layout });
  add({ kind: "full" }, 1, 1, 1, 4);
  add({ kind: "full" }, 2, 3, 37, 16);
  add({ kind: "full" }, 1, 2, 19, 6); // D % 4 != 0: scalar path
  add({ kind: "full" }, 2, 2, 21, 13, "bhsd");
  add({ kind: "causal" }, 1, 1, 1, 8);
  add({ kind: "causal" }, 2, 2, 45, 32);
  add({ kind: "causal" }, 1, 3, 23, 12, "bhsd");
  add({ kind: "blockCausal", blockSize: 4 }, 2, 2, 37, 16);
  add({ kind: "blockCausal", blockSize: 5 }, 1, 2, 33, 20, "bhsd");
  add({ kind: "blockCausal", blockStarts: [0, 3, 4, 11, 20, 27] }, 2, 2, 30, 8);
  add({ kind: "bdTrain", blockSize: 2 }, 1, 2, 12, 8);
  add({ kind: "bdTrain", blockSize: 4 }, 2, 2, 2 * 21, 16);
  add({ kind: "bdTrain", blockSize: 16 }, 1, 1, 2 * 40, 128);
  add({ kind: "bdTrain", blockStarts: [0, 1, 6, 7, 15] }, 2, 3, 2 * 19, 12);
  add({ kind: "bdTrain", blockSize: 3 }, 1, 2, 2 * 10, 10, "bhsd");
  // Cached inference: Sq queries against Sk ≥ Sq keys (and a case with Sq > Sk).
  cases.push({
    name: "cached",
    B: 2,
    H: 3,
    D: 16,
    Sq: 4,
    Sk: 41,
    mask: { kind: "cached" },
    layout: "bhsd",
  });
  cases.push({
    name: "cached",
    B: 1,
    H: 2,
    D: 64,
    Sq: 16,
    Sk: 53,
    mask: { kind: "cached" },
    layout: "bhsd",
  });
  cases.push({
    name: "cached",
    B: 1,
    H: 1,
    D: 8,
    Sq: 9,
    Sk: 3,
    mask: { kind: "cached" },
    layout: "bhsd",
  });
  // Queries that are the last Sq positions of a causal / block-causal sequence.
  cases.push({
    name: "causal tail",
    B: 1,
    H: 2,
    D: 8,
    Sq: 5,
    Sk: 29,
    mask: { kind: "causal" },
    layout: "bhsd",
  });
  cases.push({
    name: "blockCausal tail",
    B: 2,
    H: 1,
    D: 12,
    Sq: 6,
    Sk: 26,
    mask: { kind: "blockCausal", blockSize: 4 },
    layout: "bhsd",
  });
  // Split-KV: key ranges in separate workgroups, merged by attention_combine (every mask, both
  // paths, ranges that do not divide the keys, and the launcher's own choice for a decode shape).
  const split = (c: Omit<Case, "name">, n?: number) =>
    cases.push({ ...c, name: `split ${n ?? "auto"} ${c.mask.kind}`, split: n });
  split({ B: 2, H: 3, D: 16, Sq: 4, Sk: 301, mask: { kind: "cached" }, layout: "bhsd" }, 5);
  split({ B: 1, H: 2, D: 16, Sq: 4, Sk: 700, mask: { kind: "cached" }, layout: "bhsd" });
  split({ B: 2, H: 2, D: 16, Sq: 45, Sk: 45, mask: { kind: "causal" }, layout: "qkv" }, 3);
  split({ B: 1, H: 2, D: 8, Sq: 5, Sk: 129, mask: { kind: "causal" }, layout: "bhsd" }, 4);
  split({
    B: 2,
    H: 2,
    D: 16,
    Sq: 37,
    Sk: 37,
    mask: { kind: "blockCausal", blockSize: 4 },
    layout: "qkv",
  }, 2);
  split({
    B: 1,
    H: 2,
    D: 16,
    Sq: 42,
    Sk: 42,
    mask: { kind: "bdTrain", blockSize: 4 },
    layout: "qkv",
  }, 6);
  split({ B: 1, H: 1, D: 12, Sq: 9, Sk: 80, mask: { kind: "full" }, layout: "bhsd" }, 20);
  // Decoding shapes in the KV cache's layout: on CPU drivers with 8-lane subgroups the
  // row-per-subgroup kernel (attention_rows.wgsl) serves them; D up to 128 (4 vec4 per lane),
  // D4 not a multiple of the 8 lanes, keys not a multiple of its 4-key step.
  for (
    const [B, H, D, Sq, Sk] of [[1, 2, 32, 4, 301], [2, 3, 16, 1, 130], [1, 1, 128, 3, 67], [
      2,
      2,
      20,
      2,
      99,
    ]]
  ) {
    cases.push({ name: "decode", B, H, D, Sq, Sk, mask: { kind: "cached" }, layout: "cache" });
  }
  for (const c of cases) {
    const m = c.mask as { blockSize?: number; blockStarts?: number[] };
    const blocks = m.blockSize
      ? ` b=${m.blockSize}`
      : m.blockStarts
      ? ` starts=${m.blockStarts}`
      : "";
    await t.step(
      `${c.name}${blocks} B=${c.B} H=${c.H} Sq=${c.Sq} Sk=${c.Sk} D=${c.D} ${c.layout}`,
      async () => {
        const err = await runCase(gpu, rng, seed, c);
        console.log(`    rel err ${err.toExponential(2)}`);
      },
    );
  }
});

gpuTest(
  "attention: a prebuilt BlockTable equals blockStarts, without an upload per call",
  async (_t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    const [B, H, D, L] = [1, 2, 16, 18];
    const starts = [0, 5, 8, 16];
    const data = rng.normals(B * 2 * L * 3 * H * D);
    using qkv = Tensor.from(gpu, data, [B, 2 * L, 3 * H * D]);
    using table = BlockTable.create(gpu, starts, L);
    const ops = qkvOperands(qkv, H);
    const base = { ...ops, batch: B, heads: H, headDim: D, seqQ: 2 * L, seqK: 2 * L };
    using a = poisoned(gpu, [B, 2 * L, H * D]);
    using b = poisoned(gpu, [B, 2 * L, H * D]);
    attention({ ...base, mask: { kind: "bdTrain", blocks: table }, out: a });
    attention({ ...base, mask: { kind: "bdTrain", blockStarts: starts }, out: b });
    const want = attentionRef(
      { ...ops.q, data },
      { ...ops.k, data },
      { ...ops.v, data },
      base,
      { kind: "bdTrain", blockStarts: starts },
    );
    assertClose(await a.readFloat(), want.out, TOL, "bdTrain table", seed);
    assertClose(await b.readFloat(), want.out, TOL, "bdTrain starts", seed);
  },
);

gpuTest(
  "attention: bdTrain with b = L gives x_t full attention over x_t alone",
  async (_t, gpu) => {
    const seed = freshSeed();
    const rng = new Rng(seed);
    const [B, H, D, L] = [2, 2, 16, 27];
    const d = H * D;
    const data = rng.normals(B * 2 * L * 3 * d);
    using qkv = Tensor.from(gpu, data, [B, 2 * L, 3 * d]);
    const ops = qkvOperands(qkv, H);
    using bd = attention({
      ...ops,
      batch: B,
      heads: H,
      headDim: D,
      seqQ: 2 * L,
      seqK: 2 * L,
      mask: { kind: "bdTrain", blockSize: L },
    }).out;
    // x_t alone: the first L rows of every batch row, same strides.
    using full = attention({
      ...ops,
      batch: B,
      heads: H,
      headDim: D,
      seqQ: L,
      seqK: L,
      mask: { kind: "full" },
    }).out;
    const got = await bd.readFloat();
    const xt = new Float32Array(B * L * d);
    for (let b = 0; b < B; b++) xt.set(got.subarray(b * 2 * L * d, (b * 2 + 1) * L * d), b * L * d);
    assertClose(xt, await full.readFloat(), TOL, "bdTrain b=L vs full", seed);
  },
);

gpuTest("attention: shape errors name the shapes", (_t, gpu) => {
  using x = Tensor.zeros(gpu, [1, 4, 24]);
  const ops = qkvOperands(x, 2);
  assert.throws(
    () =>
      attention({
        ...ops,
        batch: 1,
        heads: 2,
        headDim: 4,
        seqQ: 5,
        seqK: 5,
        mask: { kind: "full" },
      }),
    (e) => e instanceof ShapeError && /\[1, 4, 24\]/.test(e.message),
  );
  assert.throws(
    () =>
      attention({
        ...ops,
        batch: 1,
        heads: 2,
        headDim: 4,
        seqQ: 4,
        seqK: 4,
        mask: { kind: "bdTrain", blockSize: 2, blockStarts: [0] },
      }),
    ShapeError,
  );
  return Promise.resolve();
});

gpuTest("attention: block-sparse masks visit fewer key tiles than full", (_t, gpu) => {
  const full = attentionWork(gpu, { kind: "full" }, 1024, 1024);
  const causal = attentionWork(gpu, { kind: "causal" }, 1024, 1024);
  const bd = attentionWork(gpu, { kind: "bdTrain", blockSize: 16 }, 2048, 2048);
  assert.equal(full.skippedFraction, 0);
  assert.ok(causal.skippedFraction > 0.45, `causal skips ${causal.skippedFraction}`);
  assert.ok(bd.skippedFraction > 0.7, `bdTrain skips ${bd.skippedFraction}`);
  assert.ok(bd.visitedFraction >= bd.visibleFraction);
  return Promise.resolve();
});
