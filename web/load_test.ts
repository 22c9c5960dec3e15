import assert from "node:assert/strict";
import { gpuTest } from "@blockdiff/core/testing";
import { runServerLoad } from "./load.ts";

gpuTest("web: bounded loopback load (concurrent SSE generations)", async (_t, gpu) => {
  const report = await runServerLoad({ gpu, rounds: 4, waves: 2, concurrency: 6, length: 24 });
  console.log(JSON.stringify(report));
  assert.equal(report.requests, 48);
  assert.equal(report.failed, 0);
  assert.equal(report.served + report.refused503, report.requests);
  // 6 at once against 1 running + 2 waiting: the queue must have turned some away.
  assert.ok(report.refused503 > 0);
  assert.ok(report.served >= 3 * 8);
  assert.ok(report.firstTokenP99Ms >= report.firstTokenP50Ms);
  // Flat memory: the rounds after warm-up add little (a leak of one buffer set per request
  // would add several MiB per round).
  assert.ok(report.rssGrowthMiB < 48, `rss grew ${report.rssGrowthMiB} MiB: ${report.rssMiB}`);
});
