/**
 * A lost GPU device (here: destroyed under the server) gives the request in flight a clear 503
 * with Retry-After, the server replaces the device, and the next request is served.
 */
import assert from "node:assert/strict";
import { acquireGpu } from "@blockdiff/core/deno";
import { hasGpu } from "@blockdiff/core/testing";
import { createApp } from "./app.ts";
import { makeFixture } from "./test_fixtures.ts";

Deno.test({
  name: "web: a lost GPU device is restarted and the server keeps serving",
  ignore: !hasGpu,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // A device of its own: the shared test device must survive this test's device loss.
    const session = await acquireGpu();
    const fx = await makeFixture(session.gpu);
    const sessions = [session];
    const app = createApp({
      gpu: session.gpu,
      models: fx.models,
      appJs: "",
      restartGpu: async () => {
        const s = await acquireGpu();
        sessions.push(s);
        return s.gpu;
      },
    });
    const ask = () =>
      app.request("/api/generate", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny", length: 12, stream: false, seed: 3 }),
      });
    let r = await ask();
    assert.equal(r.status, 200, await r.clone().text());
    // The device disappears (as after a driver reset).
    session.gpu.device.destroy();
    await session.gpu.device.lost;
    r = await ask();
    assert.equal(r.status, 503);
    assert.equal(r.headers.get("retry-after"), "1");
    assert.match((await r.json()).error, /GPU device was lost and has been restarted/);
    r = await ask();
    assert.equal(r.status, 200, await r.clone().text());
    const health = await (await app.request("/api/health")).json();
    assert.equal(health.generations.deviceRestarts, 1);
    app.models[Symbol.dispose]();
    for (const s of sessions.slice(1)) s.release();
    await Deno.remove(fx.root, { recursive: true });
  },
});
