/**
 * Hostile-input fuzzing of every file kind blockdiff reads. Each case mutates a valid file and
 * must end in success or a clean error (a BlockdiffError naming the file): never another
 * exception, never a hang, never a runaway allocation.
 *
 * BLOCKDIFF_FUZZ_CASES sets the number of cases (default 300); BLOCKDIFF_SEED replays a run;
 * BLOCKDIFF_FUZZ_ONLY=3,17 runs only those case numbers of that run.
 * @module
 */
import assert from "node:assert/strict";
import { freshSeed } from "@blockdiff/core/testing";
import { runFuzz } from "./fuzz.ts";

const MAX_RSS_GROWTH_MIB = 512;

Deno.test("fuzz: mutated files end in success or a clean error", async () => {
  const seed = freshSeed();
  const cases = Number(Deno.env.get("BLOCKDIFF_FUZZ_CASES") ?? 300);
  const only = Deno.env.get("BLOCKDIFF_FUZZ_ONLY")?.split(",").map(Number);
  console.log(`fuzz: seed ${seed} (replay with BLOCKDIFF_SEED=${seed}), ${cases} cases`);
  const report = await runFuzz({ cases, seed, only });
  for (const [kind, t] of Object.entries(report.byKind)) {
    console.log(
      `  ${kind.padEnd(20)} ok ${t.ok}  clean error ${t.error}  crash ${t.crash}  hang ${t.hang}`,
    );
  }
  console.log(`  rss growth ${report.rssGrowthMiB} MiB, ${report.seconds} s`);
  for (const h of report.heaviest) {
    console.log(`  heaviest: case ${h.index} (${h.kind}, ${h.mutation}): +${h.mib} MiB`);
  }
  for (const f of report.failures) {
    console.log(
      `  ${f.outcome} in case ${f.index} (${f.kind}, ${f.mutation}): ${f.detail}\n` +
        `    replay: BLOCKDIFF_SEED=${seed} BLOCKDIFF_FUZZ_ONLY=${f.index}`,
    );
  }
  assert.equal(report.total.crash, 0, `crashes (seed ${seed})`);
  assert.equal(report.total.hang, 0, `hangs (seed ${seed})`);
  assert.ok(
    report.rssGrowthMiB < MAX_RSS_GROWTH_MIB,
    `resident memory grew by ${report.rssGrowthMiB} MiB (seed ${seed})`,
  );
});
