import assert from "node:assert/strict";
import { gpuTest } from "@blockdiff/core/testing";
import { createApp } from "./app.ts";
import { makeFixture } from "./test_fixtures.ts";

const ORIGIN = "http://localhost";
const body = JSON.stringify({ model: "tiny", prompt: "x", stream: false, length: 8 });

gpuTest("web: safe defaults (JSON only, same origin, small info, 405, HEAD)", async (t, gpu) => {
  const fx = await makeFixture(gpu);
  // A large page script: /api/info once carried the app's options, this among them.
  const appJs = `/* ${"x".repeat(100_000)} */`;
  const app = createApp({
    gpu,
    models: fx.models,
    appJs,
    allowOrigins: ["https://a.example"],
  });
  const req = (path: string, init: RequestInit = {}) => app.request(`${ORIGIN}${path}`, init);

  await t.step("generation routes take only application/json bodies: 415", async () => {
    for (const path of ["/api/generate", "/v1/completions", "/v1/chat/completions"]) {
      for (const type of ["text/plain", "application/x-www-form-urlencoded", null]) {
        const headers: Record<string, string> = type ? { "content-type": type } : {};
        const r = await req(path, { method: "POST", headers, body });
        assert.equal(r.status, 415, `${path} ${type}`);
        const err = await r.json();
        if (path.startsWith("/v1/")) assert.equal(err.error.type, "invalid_request_error");
        else assert.match(err.error, /application\/json/);
      }
    }
    const ok = await req("/api/generate", {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8" },
      body,
    });
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
  });

  await t.step("cross-site requests are refused with 403", async () => {
    const cases: Record<string, string>[] = [
      { origin: "https://evil.example" },
      { origin: "null" },
      { "sec-fetch-site": "cross-site" },
      { origin: "http://localhost:9999" }, // another port is another origin
    ];
    for (const headers of cases) {
      for (const path of ["/api/generate", "/v1/completions"]) {
        const r = await req(path, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body,
        });
        assert.equal(r.status, 403, `${path} ${JSON.stringify(headers)}`);
        assert.equal(r.headers.get("access-control-allow-origin"), null);
        assert.match(await r.text(), /--allow-origin/);
      }
      const models = await req("/api/models", { headers });
      assert.equal(models.status, 403);
      await models.body?.cancel();
    }
    // The page itself may be linked to from anywhere.
    const page = await req("/", { headers: { "sec-fetch-site": "cross-site" } });
    assert.equal(page.status, 200);
    await page.body?.cancel();
    // Same origin (the page's own requests) and no Origin at all (curl, SDKs) pass.
    for (const headers of [{ origin: ORIGIN, "sec-fetch-site": "same-origin" }, {}]) {
      const r = await req("/api/models", { headers: headers as Record<string, string> });
      assert.equal(r.status, 200);
      await r.body?.cancel();
    }
  });

  await t.step("an allowed origin gets CORS headers for itself only, preflight too", async () => {
    const allowed = "https://a.example";
    const pre = await req("/v1/completions", {
      method: "OPTIONS",
      headers: {
        origin: allowed,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), allowed);
    assert.match(pre.headers.get("access-control-allow-methods")!, /POST/);
    assert.match(pre.headers.get("access-control-allow-headers")!, /authorization/);
    const r = await req("/api/models", { headers: { origin: allowed } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get("access-control-allow-origin"), allowed);
    assert.match(r.headers.get("vary")!, /origin/i);
    await r.body?.cancel();
    const post = await req("/v1/completions", {
      method: "POST",
      headers: { origin: allowed, "content-type": "application/json" },
      body: JSON.stringify({ model: "tiny", prompt: "x", max_tokens: 2, seed: 1 }),
    });
    assert.equal(post.status, 200);
    assert.equal(post.headers.get("access-control-allow-origin"), allowed);
    assert.equal((await post.json()).object, "text_completion");
    const other = await req("/v1/completions", {
      method: "OPTIONS",
      headers: { origin: "https://b.example", "access-control-request-method": "POST" },
    });
    assert.equal(other.status, 403);
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    await other.body?.cancel();
  });

  await t.step("/api/info: a few KB, no files, paths or options", async () => {
    const r = await req("/api/info");
    assert.equal(r.status, 200);
    const text = await r.text();
    assert.ok(text.length < 8 * 1024, `${text.length} bytes`);
    assert.ok(!text.includes(fx.root), "names the model directory");
    assert.doesNotMatch(text, /\/tmp|file:|\.safetensors|xxxxxxxx|appJs|models"\s*:\s*"/);
    const info = JSON.parse(text);
    assert.deepEqual(info.models.map((m: { name: string }) => m.name), ["run1", "tiny"]);
    assert.equal(info.models[1].algo, "bd3lm");
    assert.equal(info.models[1].config.length, 32);
    assert.equal(info.adapter.name, gpu.info.name);
    assert.equal(info.adapter.software, gpu.info.isSoftware);
    assert.equal(info.limits.maxLength, 4096);
    assert.deepEqual(Object.keys(info).sort(), ["adapter", "limits", "models"]);
  });

  await t.step("a wrong method on a known route is a 405 with Allow", async () => {
    const cases: [string, string, RegExp][] = [
      ["GET", "/api/generate", /^OPTIONS, POST$/],
      ["PUT", "/api/models", /^GET, HEAD, OPTIONS$/],
      ["DELETE", "/api/models/tiny", /^GET, HEAD, OPTIONS$/],
      ["POST", "/api/models/tiny/weights", /^GET, HEAD, OPTIONS$/],
      ["GET", "/v1/completions", /^OPTIONS, POST$/],
      ["POST", "/v1/models", /^GET, HEAD, OPTIONS$/],
    ];
    for (const [method, path, allow] of cases) {
      const r = await req(path, { method });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.match(r.headers.get("allow") ?? "", allow, `${method} ${path}`);
      const err = await r.json();
      if (path.startsWith("/v1/")) assert.match(err.error.message, /not (GET|POST)/);
      else assert.match(err.error, /answers/);
    }
    const options = await req("/api/generate", { method: "OPTIONS" });
    assert.equal(options.status, 204);
    assert.equal(options.headers.get("allow"), "OPTIONS, POST");
    const missing = await req("/api/nothing", { method: "PUT" });
    assert.equal(missing.status, 404);
    assert.equal((await req("/v1/nothing")).status, 404);
  });

  await t.step("HEAD is answered for GET routes", async () => {
    for (
      const path of ["/", "/api/health", "/api/models", "/api/models/tiny/weights", "/v1/models"]
    ) {
      const r = await req(path, { method: "HEAD" });
      assert.equal(r.status, 200, path);
      assert.equal(r.body, null, path);
    }
  });

  app.models[Symbol.dispose]();
  await Deno.remove(fx.root, { recursive: true });
});
