/**
 * Attention tuning: the defaults per adapter kind are the choices attention made before it had
 * a table, a registered table decides only on its own adapter and kernels, forced variants are
 * checked, a tuning run on tiny calls gives a well-formed table, and the per-adapter cache file
 * round-trips. Nothing here asserts a timing.
 */
import assert from "node:assert/strict";
import { gpuTest, Rng } from "@blockdiff/core/testing";
import { type Gpu, ShapeError, Tensor } from "@blockdiff/core";
import {
  attention,
  ATTENTION_KERNELS_ID,
  type AttentionArgs,
  attentionRuleVariant,
  attentionShapeClass,
  qkvOperands,
} from "./attention.ts";
import {
  ATTENTION_SHAPE_CLASSES,
  ATTENTION_TUNING_FORMAT,
  attentionCandidates,
  type AttentionShapeClass,
  type AttentionTuning,
  attentionTuningApplies,
  attentionVariantFor,
  getAttentionTuning,
  parseAttentionTuning,
  setAttentionTuning,
  tuneAttention,
  type TuneAttentionOptions,
} from "./tuning.ts";
import { matmulAdapterIdentity } from "../matmul/tuning_table.ts";
import { loadOrTuneAttention, readCachedAttentionTuning } from "./tuning_cache.ts";

const TINY: TuneAttentionOptions = {
  shapes: {
    decode: [{ seqQ: 2, seqK: 70, heads: 2, headDim: 16 }],
    tiled: [{ seqQ: 20, seqK: 20, heads: 2, headDim: 16 }],
  },
  rounds: 1,
  sampleMs: 0,
};

/** The choice attention hard-coded before the table: what the defaults must keep. */
function formerRule(gpu: Gpu, cls: AttentionShapeClass): string {
  const rows = gpu.info.isSoftware && gpu.features.subgroups && gpu.info.subgroupMinSize >= 8;
  if (cls === "decode" && rows) return "rows";
  return gpu.info.isSoftware ? "tiled-8" : "tiled-32";
}

/** A hand-made table choosing, per class, a candidate the defaults do not pick. */
function contraryTable(gpu: Gpu): AttentionTuning {
  const classes: AttentionTuning["classes"] = {};
  for (const cls of ATTENTION_SHAPE_CLASSES) {
    const rule = attentionRuleVariant(gpu, cls);
    const other = attentionCandidates(gpu, cls).find((v) => v !== rule)!;
    classes[cls] = { variant: other, ms: { [other]: 1, [rule]: 2 }, shapes: [] };
  }
  return {
    format: ATTENTION_TUNING_FORMAT,
    kernels: ATTENTION_KERNELS_ID,
    adapter: matmulAdapterIdentity(gpu),
    tunedAt: new Date(0).toISOString(),
    classes,
  };
}

/** Decoding-shaped call (2 query rows against 70 cached keys) and its output. */
async function decodeOut(gpu: Gpu, variant?: AttentionArgs["variant"]): Promise<Float32Array> {
  const [H, D, Sq, Sk] = [2, 16, 2, 70];
  const d = H * D;
  using qkv = Tensor.from(gpu, new Rng(3).normals(Sk * 3 * d), [1, Sk, 3 * d]);
  const ops = qkvOperands(qkv, H);
  const q = { ...ops.q, offset: (Sk - Sq) * 3 * d };
  const { out } = attention({
    q,
    k: ops.k,
    v: ops.v,
    batch: 1,
    heads: H,
    headDim: D,
    seqQ: Sq,
    seqK: Sk,
    mask: { kind: "cached" },
    variant,
  });
  using _ = out;
  return await out.readFloat();
}

gpuTest("attention tuning: defaults, registry, forced variants and cache", async (t, gpu) => {
  setAttentionTuning(gpu, null);
  try {
    await t.step("shape classes: decoding calls and the rest", () => {
      const base = { mask: "cached", seqQ: 4, seqK: 64, headDim: 128, vec: true };
      assert.equal(attentionShapeClass(base), "decode");
      assert.equal(attentionShapeClass({ ...base, seqQ: 5 }), "tiled");
      assert.equal(attentionShapeClass({ ...base, seqK: 63 }), "tiled");
      assert.equal(attentionShapeClass({ ...base, mask: "causal" }), "tiled");
      assert.equal(attentionShapeClass({ ...base, vec: false }), "tiled");
      assert.equal(attentionShapeClass({ ...base, split: 2 }), "tiled");
    });

    await t.step("without a table the defaults keep the former rules", () => {
      for (const cls of ATTENTION_SHAPE_CLASSES) {
        assert.equal(attentionVariantFor(gpu, cls, ATTENTION_KERNELS_ID), formerRule(gpu, cls));
      }
    });

    await t.step("a registered table overrides the defaults; results stay the same", async () => {
      const want = await decodeOut(gpu);
      const table = contraryTable(gpu);
      setAttentionTuning(gpu, table);
      for (const cls of ATTENTION_SHAPE_CLASSES) {
        assert.equal(
          attentionVariantFor(gpu, cls, ATTENTION_KERNELS_ID),
          table.classes[cls]!.variant,
        );
      }
      const got = await decodeOut(gpu);
      for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-5);
      setAttentionTuning(gpu, null);
      assert.equal(
        attentionVariantFor(gpu, "decode", ATTENTION_KERNELS_ID),
        formerRule(gpu, "decode"),
      );
    });

    await t.step("a table of other kernels or another adapter is ignored", () => {
      const table = contraryTable(gpu);
      setAttentionTuning(gpu, { ...table, kernels: "0-stale" });
      assert.equal(
        attentionVariantFor(gpu, "tiled", ATTENTION_KERNELS_ID),
        formerRule(gpu, "tiled"),
      );
      setAttentionTuning(gpu, { ...table, adapter: { ...table.adapter, name: "other" } });
      assert.equal(
        attentionVariantFor(gpu, "tiled", ATTENTION_KERNELS_ID),
        formerRule(gpu, "tiled"),
      );
      assert.ok(getAttentionTuning(gpu));
      setAttentionTuning(gpu, null);
    });

    await t.step(
      "every candidate computes the same decode output; rows only where it fits",
      async () => {
        const want = await decodeOut(gpu, "tiled-32");
        for (const v of attentionCandidates(gpu, "decode")) {
          const got = await decodeOut(gpu, v);
          for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i] - want[i]) < 1e-5, v);
        }
        using qkv = Tensor.empty(gpu, [1, 8, 3 * 32]);
        const ops = qkvOperands(qkv, 2);
        assert.throws(
          () =>
            attention({
              ...ops,
              batch: 1,
              heads: 2,
              seqQ: 8,
              seqK: 8,
              mask: { kind: "causal" },
              variant: "rows",
            }),
          ShapeError,
        );
      },
    );

    await t.step("tuning tiny calls gives a valid table and registers nothing", async () => {
      const tuned = await tuneAttention(gpu, TINY);
      const parsed = parseAttentionTuning(JSON.parse(JSON.stringify(tuned)));
      assert.ok(parsed && attentionTuningApplies(parsed, gpu, ATTENTION_KERNELS_ID));
      for (const cls of ATTENTION_SHAPE_CLASSES) {
        const c = tuned.classes[cls]!;
        assert.ok(attentionCandidates(gpu, cls).includes(c.variant));
        for (const v of attentionCandidates(gpu, cls)) {
          assert.ok(c.ms[v] !== undefined || c.failed?.[v]);
        }
      }
      assert.equal(getAttentionTuning(gpu), null);
      assert.equal(parseAttentionTuning({ ...tuned, format: 99 }), null);
      assert.equal(parseAttentionTuning({ ...tuned, classes: { decode: { variant: "x" } } }), null);
      await assert.rejects(
        tuneAttention(gpu, {
          ...TINY,
          shapes: { decode: [{ seqQ: 8, seqK: 8, heads: 1, headDim: 4 }] },
        }),
        RangeError,
      );
    });

    await t.step("the cache file round-trips; BLOCKDIFF_TUNE=0 style disables", async () => {
      const dir = await Deno.makeTempDir();
      try {
        const first = await loadOrTuneAttention(gpu, { cacheDir: dir, tune: TINY });
        assert.equal(first.source, "tuned");
        assert.ok(getAttentionTuning(gpu));
        const again = await loadOrTuneAttention(gpu, { cacheDir: dir, tune: TINY });
        assert.equal(again.source, "cache");
        assert.deepEqual((await readCachedAttentionTuning(gpu, dir)).table, first.table);
        const off = await loadOrTuneAttention(gpu, { cacheDir: dir, disabled: true });
        assert.equal(off.source, "off");
        assert.equal(getAttentionTuning(gpu), null);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  } finally {
    setAttentionTuning(gpu, null);
  }
});
