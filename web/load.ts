/**
 * A bounded load test of the web server on loopback: waves of concurrent streaming generations
 * (tiny model, short lengths) against a queue that must turn some away. Counts served requests,
 * the deliberate 503s and any failure, the latency to the first streamed step, and the process
 * RSS after each round (growth across rounds should stay bounded).
 * @module
 */
import { join } from "node:path";
import type { Gpu } from "@blockdiff/core";
import { createApp } from "./app.ts";
import { readSse } from "./sse.ts";
import { writeTinyModelDir } from "./tiny_model.ts";

/** Options of {@link runServerLoad}. */
export interface LoadOptions {
  /** The device the server under test runs on. */
  gpu: Gpu;
  /** Rounds of waves; RSS is sampled after each (the first half counts as warm-up). */
  rounds?: number;
  /** Waves per round. */
  waves?: number;
  /** Requests sent at once in each wave. */
  concurrency?: number;
  /** Tokens per generation. */
  length?: number;
  /** Generations allowed to wait behind the running one. */
  maxWaiting?: number;
}

/** What {@link runServerLoad} measured. */
export interface LoadReport {
  /** Requests sent in all. */
  requests: number;
  /** Requests answered with a complete stream. */
  served: number;
  /** Deliberate refusals of a full queue. */
  refused503: number;
  /** Anything else: other statuses, error events, broken streams. */
  failed: number;
  /** Median latency from request to first streamed step, ms. */
  firstTokenP50Ms: number;
  /** 99th-percentile latency from request to first streamed step, ms. */
  firstTokenP99Ms: number;
  /** RSS after each round, MiB. */
  rssMiB: number[];
  /** RSS after the last round minus after the middle one (past warm-up), MiB. */
  rssGrowthMiB: number;
  /** RSS after the middle round minus after the first (pools, caches and JIT filling up), MiB. */
  rssWarmupMiB: number;
  /** Wall time of the whole test, s. */
  seconds: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)];
}

type Outcome = { kind: "served"; firstMs: number } | { kind: "refused" } | {
  kind: "failed";
  why: string;
};

async function one(url: string, length: number, seed: number): Promise<Outcome> {
  const t0 = performance.now();
  const r = await fetch(`${url}api/generate`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ prompt: "load ", length, seed, stopAtEos: false }),
  });
  if (r.status === 503 && r.headers.get("retry-after")) {
    await r.body?.cancel();
    return { kind: "refused" };
  }
  if (r.status !== 200 || !r.body) {
    await r.body?.cancel();
    return { kind: "failed", why: `HTTP ${r.status}` };
  }
  let firstMs = NaN, done = false, error = "";
  await readSse(r.body, (e) => {
    if ((e.event === "step" || e.event === "block") && Number.isNaN(firstMs)) {
      firstMs = performance.now() - t0;
    }
    if (e.event === "done") done = true;
    if (e.event === "error") error = e.data;
  });
  if (!done || Number.isNaN(firstMs)) return { kind: "failed", why: error || "stream ended early" };
  return { kind: "served", firstMs };
}

/** Serves a tiny model on 127.0.0.1 (a free port) and loads it; see {@link LoadOptions}. */
export async function runServerLoad(opts: LoadOptions): Promise<LoadReport> {
  const rounds = opts.rounds ?? 4, waves = opts.waves ?? 2, concurrency = opts.concurrency ?? 6;
  const length = opts.length ?? 24;
  const root = await Deno.makeTempDir({ prefix: "blockdiff-load-" });
  await writeTinyModelDir(opts.gpu, join(root, "tiny"));
  // Every request comes from 127.0.0.1, so the per-client limit is lifted; the queue bound
  // (1 running + maxWaiting) is what turns requests away.
  const app = createApp({
    gpu: opts.gpu,
    models: root,
    appJs: "",
    maxWaiting: opts.maxWaiting ?? 2,
    maxPerClient: 1000,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}/`;
  const started = performance.now();
  const firsts: number[] = [];
  const rss: number[] = [];
  let served = 0, refused = 0, failed = 0, requests = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      for (let w = 0; w < waves; w++) {
        const outcomes = await Promise.all(
          Array.from({ length: concurrency }, (_, i) => one(url, length, requests + i)),
        );
        requests += concurrency;
        for (const o of outcomes) {
          if (o.kind === "served") {
            served++;
            firsts.push(o.firstMs);
          } else if (o.kind === "refused") refused++;
          else {
            failed++;
            console.error(`load: request failed: ${o.why}`);
          }
        }
      }
      rss.push(Deno.memoryUsage().rss / 2 ** 20);
    }
  } finally {
    await server.shutdown();
    app.models[Symbol.dispose]();
    await Deno.remove(root, { recursive: true });
  }
  firsts.sort((a, b) => a - b);
  const mid = Math.floor((rss.length - 1) / 2);
  return {
    requests,
    served,
    refused503: refused,
    failed,
    firstTokenP50Ms: percentile(firsts, 0.5),
    firstTokenP99Ms: percentile(firsts, 0.99),
    rssMiB: rss.map((v) => Math.round(v * 10) / 10),
    // Buffer pools, kernel caches and the JIT fill up over the first rounds; a leak shows as
    // growth that continues after that.
    rssGrowthMiB: Math.round((rss.at(-1)! - rss[mid]) * 10) / 10,
    rssWarmupMiB: Math.round((rss[mid] - rss[0]) * 10) / 10,
    seconds: (performance.now() - started) / 1000,
  };
}
