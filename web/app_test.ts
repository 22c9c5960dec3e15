import assert from "node:assert/strict";
import { gpuTest } from "@blockdiff/core/testing";
import { createApp } from "./app.ts";

gpuTest("web: health, info, page, 404 and security headers", async (t, gpu) => {
  const app = createApp({ gpu });
  await t.step("health", async () => {
    const r = await app.request("/api/health");
    assert.equal(r.status, 200);
    const body = await r.json();
    assert.equal(body.ok, true);
    assert.equal(body.adapter, gpu.info.name);
  });
  await t.step("info", async () => {
    const body = await (await app.request("/api/info")).json();
    assert.ok(Array.isArray(body.features));
  });
  await t.step("page has security headers and no CORS", async () => {
    const r = await app.request("/");
    assert.equal(r.status, 200);
    assert.match(await r.text(), /blockdiff/);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("access-control-allow-origin"), null);
  });
  await t.step("unknown route is a JSON 404", async () => {
    const r = await app.request("/nope");
    assert.equal(r.status, 404);
    assert.match((await r.json()).error, /no route/);
  });
});
