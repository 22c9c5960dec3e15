import assert from "node:assert/strict";
import { join } from "node:path";
import { gpuTest } from "@blockdiff/core/testing";
import { createApp } from "./app.ts";
import { collectSse, makeFixture } from "./test_fixtures.ts";

const JSON_HEADERS = { "content-type": "application/json" };
const post = (body: unknown, init: RequestInit = {}) => ({
  method: "POST",
  headers: JSON_HEADERS,
  body: typeof body === "string" ? body : JSON.stringify(body),
  ...init,
});
// Every error body is checked for leaked internals.
function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /\bat .*\.(ts|js):\d+|file:\/\/|node_modules|\n\s+at /);
}

gpuTest("web: API, limits, queue, cancellation, paths, headers", async (t, gpu) => {
  const fx = await makeFixture(gpu);
  // The page's script is not under test here; a stand-in keeps `deno bundle` out of this test.
  const app = createApp({ gpu, models: fx.models, appJs: "/* test */" });
  const errorBodies: string[] = [];
  const expectError = async (r: Response, status: number) => {
    const text = await r.text();
    errorBodies.push(text);
    assert.equal(r.status, status, text);
    return JSON.parse(text);
  };

  await t.step("health", async () => {
    const r = await app.request("/api/health");
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.ok, true);
    assert.equal(body.adapter, gpu.info.name);
    assert.deepEqual(body.queue, { running: 0, waiting: 0, admitted: 0, refused: 0 });
  });

  await t.step("models: the directory's models, not the link leading outside", async () => {
    const body = await (await app.request("/api/models")).json();
    assert.deepEqual(body.models.map((m: { name: string }) => m.name), ["run1", "tiny"]);
    const tiny = body.models[1];
    assert.equal(tiny.algo, "bd3lm");
    assert.equal(tiny.tokenizer, "bytes");
    assert.equal(tiny.browser, true);
    assert.equal(tiny.config.length, 32);
    assert.ok(tiny.weightsBytes > 0);
  });

  await t.step("page: CSP of self only, security headers, no CORS", async () => {
    const r = await app.request("/", { headers: { origin: "https://evil.example" } });
    assert.equal(r.status, 200);
    assert.match(await r.text(), /<script type="module" src="\/app.js">/);
    const csp = r.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("x-frame-options"), "SAMEORIGIN");
    assert.equal(r.headers.get("access-control-allow-origin"), null);
    const pre = await app.request("/api/generate", {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
    await pre.body?.cancel();
    assert.match((await app.request("/app.css")).headers.get("content-type")!, /text\/css/);
  });

  await t.step("validation: each field", async () => {
    const cases: [unknown, string][] = [
      [[1, 2], "body"],
      [{ model: "nope" }, "model"],
      [{ model: "../tiny" }, "model"],
      [{ prompt: 5 }, "prompt"],
      [{ prompt: "x".repeat(4097) }, "prompt"],
      [{ length: 1 }, "length"],
      [{ length: 4097 }, "length"],
      [{ length: 2.5 }, "length"],
      [{ steps: 0 }, "steps"],
      [{ steps: 1001 }, "steps"],
      [{ topP: 0 }, "topP"],
      [{ topP: 1.5 }, "topP"],
      [{ topP: "0.9" }, "topP"],
      [{ temperature: -1 }, "temperature"],
      [{ temperature: Number.NaN }, "temperature"],
      [{ blockSize: 3 }, "blockSize"], // does not divide L = 32
      [{ blockSize: 0 }, "blockSize"],
      [{ blockSize: "big" }, "blockSize"],
      [{ sampler: "greedy" }, "sampler"],
      [{ seed: -1 }, "seed"],
      [{ stopAtEos: "yes" }, "stopAtEos"],
      [{ entropyStop: { window: 0 } }, "entropyStop.window"],
      [{ entropyStop: { threshold: 99 } }, "entropyStop.threshold"],
      [{ stream: 1 }, "stream"],
      [{ tokens: 5 }, "tokens"],
    ];
    for (const [body, field] of cases) {
      const err = await expectError(await app.request("/api/generate", post(body)), 400);
      assert.equal(err.field, field, JSON.stringify(body));
      assert.equal(typeof err.error, "string");
    }
    const bad = await expectError(await app.request("/api/generate", post("{not json")), 400);
    assert.equal(bad.field, "body");
  });

  await t.step("413 for a body over the limit", async () => {
    const big = JSON.stringify({ prompt: "x".repeat(70 * 1024) });
    await expectError(await app.request("/api/generate", post(big)), 413);
  });

  await t.step("JSON mode generates", async () => {
    const r = await app.request(
      "/api/generate",
      post({ model: "tiny", prompt: "Hi", length: 24, stream: false, seed: 3 }),
    );
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.ok(body.text.startsWith("Hi"));
    assert.ok(body.nfe > 0);
    assert.ok(body.generated > 0 && body.generated <= 21);
  });

  await t.step("SSE streams queued, start, steps with masks, blocks, done", async () => {
    const r = await app.request(
      "/api/generate",
      post({ model: "run1", prompt: "ab", length: 24, stopAtEos: false, sampler: "ancestral" }),
    );
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type")!, /text\/event-stream/);
    const events = await collectSse(r);
    const names = events.map((e) => e.event);
    assert.equal(names[0], "queued");
    assert.equal(names[1], "start");
    assert.equal(names.at(-1), "done");
    const steps = events.filter((e) => e.event === "step").map((e) => JSON.parse(e.data));
    assert.ok(steps.length > 0);
    assert.ok(steps.some((s) => s.tokens.includes(null)), "some step shows masked positions");
    assert.ok(events.some((e) => e.event === "block"));
    const done = JSON.parse(events.at(-1)!.data);
    assert.equal(done.generated, 21);
    assert.ok(done.text.startsWith("ab"));
  });

  await t.step("paths: traversal and absolute names refused, weights served", async () => {
    for (const p of ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", ".hidden", "a%5Cb"]) {
      await expectError(await app.request(`/api/models/${p}/weights`), 400);
      await expectError(await app.request(`/api/models/${p}`), 400);
    }
    await expectError(await app.request("/api/models/escape/weights"), 404);
    await expectError(await app.request("/api/models/missing"), 404);
    const r = await app.request("/api/models/tiny/weights");
    assert.equal(r.status, 200);
    const bytes = new Uint8Array(await r.arrayBuffer());
    assert.deepEqual(bytes, await Deno.readFile(join(fx.models, "tiny", "model.safetensors")));
    const again = await app.request("/api/models/tiny/weights", {
      headers: { "if-none-match": r.headers.get("etag")! },
    });
    assert.equal(again.status, 304);
    await expectError(await app.request("/api/runs/plot.svg?runs=..%2Fx"), 400);
  });

  await t.step("runs and curves", async () => {
    const body = await (await app.request("/api/runs")).json();
    assert.deepEqual(body.runs.map((r: { name: string }) => r.name), ["run1"]);
    assert.equal(body.runs[0].points, 20);
    assert.deepEqual(body.runs[0].metrics, ["loss", "tokensPerSecond"]);
    assert.equal(body.runs[0].eval.valPpl, 123.4);
    const svg = await app.request("/api/runs/plot.svg?runs=run1&metric=loss");
    assert.match(svg.headers.get("content-type")!, /image\/svg\+xml/);
    assert.match(await svg.text(), /<svg[\s\S]*run1/);
  });

  await t.step("unknown route is a JSON 404", async () => {
    const body = await expectError(await app.request("/nope"), 404);
    assert.match(body.error, /no route/);
  });

  await t.step("no stack traces in any error", () => {
    assert.ok(errorBodies.length > 30);
    for (const text of errorBodies) assertNoStack(text);
  });

  app.models[Symbol.dispose]();
  await Deno.remove(fx.root, { recursive: true });
});

gpuTest("web: full queue gets 503, disconnects and timeouts stop generation", async (t, gpu) => {
  const fx = await makeFixture(gpu);
  const app = createApp({
    gpu,
    models: fx.models,
    appJs: "",
    maxWaiting: 1,
    maxPerClient: 2,
    retryAfterS: 7,
  });
  const long = { model: "tiny", length: 512, stopAtEos: false, sampler: "ancestral", steps: 4 };
  const env = (ip: string) => ({ remoteAddr: { hostname: ip, port: 1, transport: "tcp" } });
  const health = async () => await (await app.request("/api/health")).json();

  await t.step("1 running + 1 waiting, then 503 with Retry-After; per-client limit", async () => {
    const a = new AbortController(), b = new AbortController();
    const first = await app.request(
      "/api/generate",
      post(long, { signal: a.signal }),
      env("10.0.0.1"),
    );
    const firstEvents = collectSse(first, (e) => e.event === "step");
    const second = await app.request(
      "/api/generate",
      post(long, { signal: b.signal }),
      env("10.0.0.2"),
    );
    assert.equal(second.status, 200);
    const full = await app.request("/api/generate", post(long), env("10.0.0.3"));
    assert.equal(full.status, 503);
    assert.equal(full.headers.get("retry-after"), "7");
    assert.match((await full.json()).error, /queue is full/);
    // Per client: 10.0.0.1 may hold 2 places, but the queue is full anyway; after the waiting
    // one leaves, a third from the same client is refused by the client limit.
    b.abort();
    await second.body!.cancel();
    const sameClient = await app.request("/api/generate", post(long), env("10.0.0.1"));
    assert.equal(sameClient.status, 200);
    const third = await app.request("/api/generate", post(long), env("10.0.0.1"));
    assert.equal(third.status, 503);
    assert.match((await third.json()).error, /per client/);
    await sameClient.body!.cancel();
    await firstEvents;
    a.abort();
    await first.body!.cancel().catch(() => {});
  });

  await t.step("disconnect cancels: sampling stops and the queue drains", async () => {
    for (let i = 0; i < 100 && (await health()).queue.running > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const before = (await health()).generations.cancelled;
    const ac = new AbortController();
    const r = await app.request(
      "/api/generate",
      post(long, { signal: ac.signal }),
      env("10.0.0.9"),
    );
    const events = await collectSse(r, (e) => e.event === "step");
    const nfeAtAbort = JSON.parse(events.at(-1)!.data).nfe;
    const t0 = performance.now();
    ac.abort();
    let h = await health();
    while (
      (h.queue.running > 0 || h.generations.cancelled === before) && performance.now() - t0 < 10_000
    ) {
      await new Promise((r) => setTimeout(r, 20));
      h = await health();
    }
    assert.equal(h.queue.running, 0);
    assert.equal(h.generations.cancelled, before + 1);
    // A full run is ~500 network calls; stopping took a small fraction of that.
    assert.ok(performance.now() - t0 < 5000, `stopped after ${performance.now() - t0} ms`);
    assert.ok(nfeAtAbort < 100);
  });

  await t.step("JSON mode: an aborted request signal cancels too", async () => {
    const before = (await health()).generations.cancelled;
    const ac = new AbortController();
    const pending = app.request(
      "/api/generate",
      post({ ...long, stream: false }, { signal: ac.signal }),
    );
    setTimeout(() => ac.abort(), 150);
    const r = await pending;
    assert.equal(r.status, 499);
    assert.equal((await r.json()).error, "cancelled");
    assert.equal((await health()).generations.cancelled, before + 1);
  });

  await t.step("timeout stops a generation with 504", async () => {
    const quick = createApp({ gpu, models: fx.models, appJs: "", generationTimeoutMs: 30 });
    const r = await quick.request("/api/generate", post({ ...long, stream: false }));
    const body = await r.json();
    assert.equal(r.status, 504);
    assert.match(body.error, /timed out/);
    assertNoStack(JSON.stringify(body));
    quick.models[Symbol.dispose]();
  });

  app.models[Symbol.dispose]();
  await Deno.remove(fx.root, { recursive: true });
});
