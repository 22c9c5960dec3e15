/**
 * The Hono application behind `bd3 serve`: a status page and a JSON API over the same
 * modules the CLI uses. Routes are built by `createApp`, so tests call `app.request()` directly.
 * @module
 */
import { Hono } from "hono";
import { secureHeaders } from "hono/secure-headers";
import type { Gpu } from "@blockdiff/core";
import { PAGE } from "./page.ts";

/** What the app serves. */
export interface AppOptions {
  gpu: Gpu;
  /** Process start (ms since epoch), for uptime in /api/health. */
  startedAt?: number;
}

/** Builds the app. CORS stays off: the page and the API share one origin. */
export function createApp(opts: AppOptions): Hono {
  const app = new Hono();
  const started = opts.startedAt ?? Date.now();
  app.use("*", secureHeaders());
  app.get("/", (c) => c.html(PAGE));
  app.get("/api/health", (c) =>
    c.json({
      ok: true,
      adapter: opts.gpu.info.name,
      software: opts.gpu.info.isSoftware,
      uptimeS: Math.round((Date.now() - started) / 1000),
    }));
  app.get("/api/info", (c) =>
    c.json({
      adapter: opts.gpu.info,
      features: [...opts.gpu.device.features].sort(),
      limits: {
        maxStorageBufferBindingSize: opts.gpu.device.limits.maxStorageBufferBindingSize,
        maxComputeWorkgroupStorageSize: opts.gpu.device.limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: opts.gpu.device.limits.maxComputeInvocationsPerWorkgroup,
      },
    }));
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}` }, 404));
  app.onError((_err, c) => c.json({ error: "internal error" }, 500));
  return app;
}
