/**
 * Matmul tuning: a tuning run on tiny products gives a well-formed table, a registered table
 * decides `matmulVariantFor` only on its own adapter and kernels, and the per-adapter cache
 * file round-trips and survives corrupt, stale and unwritable files. Nothing here asserts a
 * timing, and nothing tunes unless a test calls it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { assertClose, gpuTest, Rng } from "@blockdiff/core/testing";
import { type Gpu, Tensor } from "@blockdiff/core";
import { tuneModeFromEnv, tuningCacheDir, tuningCachePath } from "@blockdiff/core/deno";
import {
  GEMV_MAX_ROWS,
  matmul,
  MATMUL_KERNELS_ID,
  matmulRuleVariant,
  type MatmulVariant,
  matmulVariantFor,
} from "./matmul.ts";
import {
  getMatmulTuning,
  MATMUL_SHAPE_CLASSES,
  MATMUL_TUNING_FORMAT,
  matmulAdapterIdentity,
  matmulCandidates,
  matmulShapeClass,
  type MatmulTuning,
  matmulTuningApplies,
  parseMatmulTuning,
  setMatmulTuning,
  tuneMatmul,
  type TuneMatmulOptions,
} from "./tuning.ts";
import { loadOrTuneMatmul, readCachedMatmulTuning } from "./tuning_cache.ts";

/** Tiny products (not multiples of any tile), one timed sample each: fast on a CPU driver. */
const TINY: TuneMatmulOptions = {
  shapes: {
    "few-rows-linear": [{ m: 3, n: 37, k: 12, transB: true }],
    "few-rows": [{ m: 2, n: 19, k: 7, transB: false }],
    "many-rows": [{ m: 21, n: 30, k: 13, transB: true }],
  },
  rounds: 1,
  sampleMs: 0,
};

/** A product of each class: its row count and shape hint. */
const PROBES = {
  "few-rows-linear": { m: 2, hint: { transB: true, k: 16 } },
  "few-rows": { m: 3, hint: { transB: false, k: 16 } },
  "many-rows": { m: 40, hint: { transB: true, k: 16 } },
} as const;

/** A hand-made table for `gpu` choosing, per class, a candidate the rules do not pick. */
function contraryTable(gpu: Gpu): MatmulTuning {
  const classes: MatmulTuning["classes"] = {};
  for (const cls of MATMUL_SHAPE_CLASSES) {
    const { m, hint } = PROBES[cls];
    const rule = matmulRuleVariant(gpu, m, hint);
    const other = matmulCandidates(gpu, cls).find((v) => v !== rule);
    if (other) classes[cls] = { variant: other, ms: { [other]: 1, [rule]: 2 }, shapes: [] };
  }
  return {
    format: MATMUL_TUNING_FORMAT,
    kernels: MATMUL_KERNELS_ID,
    adapter: matmulAdapterIdentity(gpu),
    tunedAt: new Date(0).toISOString(),
    classes,
  };
}

function choices(gpu: Gpu): Record<string, MatmulVariant> {
  return Object.fromEntries(
    MATMUL_SHAPE_CLASSES.map((c) => [c, matmulVariantFor(gpu, PROBES[c].m, PROBES[c].hint)]),
  );
}

function rules(gpu: Gpu): Record<string, MatmulVariant> {
  return Object.fromEntries(
    MATMUL_SHAPE_CLASSES.map((c) => [c, matmulRuleVariant(gpu, PROBES[c].m, PROBES[c].hint)]),
  );
}

/** Checks a table's shape: every class decided, choices among its candidates, ms or a reason. */
function assertValidTable(gpu: Gpu, t: MatmulTuning): void {
  const parsed = parseMatmulTuning(JSON.parse(JSON.stringify(t)));
  assert.ok(parsed, "the table survives JSON and parses");
  assert.ok(matmulTuningApplies(parsed, gpu, MATMUL_KERNELS_ID));
  for (const cls of MATMUL_SHAPE_CLASSES) {
    const c = t.classes[cls];
    assert.ok(c, `class ${cls} decided`);
    const candidates = matmulCandidates(gpu, cls);
    assert.ok(candidates.includes(c.variant), `${cls}: ${c.variant} is a candidate`);
    assert.ok(c.ms[c.variant] !== undefined, `${cls}: the chosen variant was timed`);
    for (const v of candidates) {
      const ms = c.ms[v];
      assert.ok(
        (ms !== undefined && Number.isFinite(ms) && ms >= 0) || c.failed?.[v],
        `${cls}: ${v} has a time or a failure`,
      );
    }
  }
}

gpuTest("matmul tuning: table, registry and per-adapter cache", async (t, gpu) => {
  setMatmulTuning(gpu, null);
  try {
    await t.step("shape classes follow GEMV_MAX_ROWS and the row-dot conditions", () => {
      assert.equal(matmulShapeClass(GEMV_MAX_ROWS, { transB: true, k: 8 }), "few-rows-linear");
      assert.equal(matmulShapeClass(GEMV_MAX_ROWS + 1, { transB: true, k: 8 }), "many-rows");
      assert.equal(matmulShapeClass(1, { transB: true, k: 6 }), "few-rows");
      assert.equal(matmulShapeClass(1, { transB: true, transA: true, k: 8 }), "few-rows");
      assert.equal(matmulShapeClass(1), "few-rows");
    });

    let tuned: MatmulTuning | null = null;
    await t.step("tuning tiny products gives a valid table and registers nothing", async () => {
      tuned = await tuneMatmul(gpu, TINY);
      assertValidTable(gpu, tuned);
      assert.equal(getMatmulTuning(gpu), null);
      assert.deepEqual(tuned.classes["few-rows-linear"]?.shapes, TINY.shapes!["few-rows-linear"]);
      await assert.rejects(
        tuneMatmul(gpu, { ...TINY, shapes: { "few-rows": [{ m: 9, n: 4, k: 4, transB: false }] } }),
        RangeError,
      );
    });

    await t.step("a registered table overrides the rules; null restores them", async () => {
      const table = contraryTable(gpu);
      setMatmulTuning(gpu, table);
      const got = choices(gpu);
      const want = rules(gpu);
      for (const cls of MATMUL_SHAPE_CLASSES) {
        want[cls] = table.classes[cls]?.variant ?? want[cls];
      }
      assert.deepEqual(got, want);
      assert.notEqual(got["few-rows-linear"], rules(gpu)["few-rows-linear"]);
      // And matmul runs the tuned kernel correctly (few rows against a weight, no variant).
      const rng = new Rng(7);
      const [m, n, k] = [2, 33, 16];
      const av = rng.normals(m * k), bv = rng.normals(n * k);
      using a = Tensor.from(gpu, av, [m, k]);
      using b = Tensor.from(gpu, bv, [n, k]);
      const want2 = new Float64Array(m * n);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          for (let p = 0; p < k; p++) want2[i * n + j] += av[i * k + p] * bv[j * k + p];
        }
      }
      using c = matmul(a, b, { transB: true });
      assertClose(await c.readFloat(), want2, 1e-5, "matmul with a tuned variant", 7);
      setMatmulTuning(gpu, null);
      assert.deepEqual(choices(gpu), rules(gpu));
    });

    await t.step("a table of another adapter, kernels or format is ignored", () => {
      const table = contraryTable(gpu);
      const variants: MatmulTuning[] = [
        { ...table, adapter: { ...table.adapter, description: `${table.adapter.description}!` } },
        { ...table, adapter: { ...table.adapter, name: "Some Other GPU" } },
        { ...table, kernels: `${table.kernels}-old` },
        { ...table, format: MATMUL_TUNING_FORMAT + 1 },
      ];
      for (const other of variants) {
        setMatmulTuning(gpu, other);
        assert.deepEqual(choices(gpu), rules(gpu), JSON.stringify(other.adapter));
      }
      // A choice that cannot run its class (row-dot for many rows) falls back to the rules.
      setMatmulTuning(gpu, {
        ...table,
        classes: { "many-rows": { variant: "rowdot", ms: { rowdot: 1 }, shapes: [] } },
      });
      assert.equal(
        matmulVariantFor(gpu, 40, { transB: true, k: 16 }),
        matmulRuleVariant(gpu, 40, { transB: true, k: 16 }),
      );
      setMatmulTuning(gpu, null);
    });

    await t.step("malformed tables do not parse", () => {
      const good = JSON.parse(JSON.stringify(contraryTable(gpu)));
      assert.ok(parseMatmulTuning(good));
      for (
        const bad of [
          null,
          "x",
          [],
          { ...good, format: 0 },
          { ...good, adapter: { name: "x" } },
          { ...good, classes: { "few-rows": { variant: "fast", ms: {}, shapes: [] } } },
          { ...good, classes: { "odd-class": { variant: "gemv", ms: {}, shapes: [] } } },
          { ...good, classes: { "few-rows": { variant: "gemv", ms: { gemv: "1" }, shapes: [] } } },
        ]
      ) assert.equal(parseMatmulTuning(bad), null, JSON.stringify(bad));
    });

    const dir = await Deno.makeTempDir({ prefix: "blockdiff-tuning-" });
    const cacheOpts = { cacheDir: dir, tune: TINY, retune: false, disabled: false };
    try {
      const path = await tuningCachePath(matmulAdapterIdentity(gpu), dir);
      assert.ok(path?.startsWith(dir) && /tuning-[0-9a-f]{16}\.json$/.test(path), path ?? "");

      await t.step("cache round trip: tuned once, then read back", async () => {
        const lines: string[] = [];
        const first = await loadOrTuneMatmul(gpu, { ...cacheOpts, log: (l) => lines.push(l) });
        assert.equal(first.source, "tuned");
        assert.equal(first.path, path);
        assert.equal(first.saveError, undefined);
        assert.equal(lines.length, 1);
        assert.match(lines[0], /tuning matmul kernels/);
        assertValidTable(gpu, first.table!);
        assert.equal(getMatmulTuning(gpu), first.table);
        assert.deepEqual(JSON.parse(await Deno.readTextFile(path!)), first.table);
        assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), [
          path!.slice(dir.length + 1),
        ]);

        setMatmulTuning(gpu, null);
        const second = await loadOrTuneMatmul(gpu, { ...cacheOpts, log: (l) => lines.push(l) });
        assert.equal(second.source, "cache");
        assert.equal(lines.length, 1, "no tuning the second time");
        assert.deepEqual(second.table, first.table);
        assert.deepEqual(getMatmulTuning(gpu), first.table);
        assert.deepEqual((await readCachedMatmulTuning(gpu, dir)).table, first.table);

        const forced = await loadOrTuneMatmul(gpu, { ...cacheOpts, retune: true });
        assert.equal(forced.source, "tuned");
        const off = await loadOrTuneMatmul(gpu, { ...cacheOpts, disabled: true });
        assert.equal(off.source, "off");
        assert.equal(off.table, null);
        assert.equal(getMatmulTuning(gpu), null, "disabled: the rules decide");
      });

      await t.step("corrupt, stale or foreign cache files are retuned, never thrown", async () => {
        const table = contraryTable(gpu);
        const contents = [
          "{ not json",
          "",
          JSON.stringify({ ...table, format: MATMUL_TUNING_FORMAT - 1 }),
          JSON.stringify({ ...table, kernels: "0-00000000" }),
          JSON.stringify({ ...table, adapter: { ...table.adapter, device: "elsewhere" } }),
        ];
        for (const text of contents) {
          await Deno.writeTextFile(path!, text);
          assert.equal((await readCachedMatmulTuning(gpu, dir)).table, null);
          const r = await loadOrTuneMatmul(gpu, cacheOpts);
          assert.equal(r.source, "tuned", text.slice(0, 40));
          assertValidTable(gpu, r.table!);
          assert.deepEqual(JSON.parse(await Deno.readTextFile(path!)), r.table);
        }
        setMatmulTuning(gpu, null);
      });

      await t.step("an unwritable cache directory costs the cache only", async () => {
        const file = join(dir, "a-file");
        await Deno.writeTextFile(file, "");
        const r = await loadOrTuneMatmul(gpu, { ...cacheOpts, cacheDir: join(file, "sub") });
        assert.equal(r.source, "tuned");
        assert.ok(r.saveError);
        assert.equal(getMatmulTuning(gpu), r.table);
        setMatmulTuning(gpu, null);
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  } finally {
    setMatmulTuning(gpu, null);
  }
});

Deno.test("tuning cache location and BLOCKDIFF_TUNE", () => {
  const names = ["BLOCKDIFF_CACHE_DIR", "XDG_CACHE_HOME", "HOME", "BLOCKDIFF_TUNE"];
  const saved = Object.fromEntries(names.map((n) => [n, Deno.env.get(n)]));
  const set = (n: string, v: string | undefined) =>
    v === undefined ? Deno.env.delete(n) : Deno.env.set(n, v);
  try {
    set("BLOCKDIFF_CACHE_DIR", undefined);
    set("XDG_CACHE_HOME", undefined);
    set("HOME", "/home/u");
    assert.equal(tuningCacheDir(), join("/home/u", ".cache", "blockdiff"));
    set("XDG_CACHE_HOME", "/xdg");
    assert.equal(tuningCacheDir(), join("/xdg", "blockdiff"));
    set("BLOCKDIFF_CACHE_DIR", "/mine");
    assert.equal(tuningCacheDir(), "/mine");
    assert.equal(tuningCacheDir("/given"), "/given");
    for (const [v, mode] of [["0", "off"], ["off", "off"], ["force", "force"], ["1", "auto"]]) {
      set("BLOCKDIFF_TUNE", v);
      assert.equal(tuneModeFromEnv(), mode, v);
    }
    set("BLOCKDIFF_TUNE", undefined);
    assert.equal(tuneModeFromEnv(), "auto");
  } finally {
    for (const n of names) set(n, saved[n]);
  }
});
