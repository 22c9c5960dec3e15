/**
 * The Hono application behind `bd3 serve`: the page (generation and training-curves views),
 * the browser bundle, and a JSON API over the same modules the CLI uses. Routes are built by
 * `createApp`, so tests call `app.request()` directly.
 * @module
 */
import { type Context, Hono } from "hono";
import { secureHeaders } from "hono/secure-headers";
import { bodyLimit } from "hono/body-limit";
import type { Gpu } from "@blockdiff/core";
import { CSS, PAGE } from "./page.ts";
import { resolveLimits, type ServerLimits } from "./limits.ts";
import { MODEL_NAME, ModelRegistry, type ModelSource } from "./models.ts";
import { GenerationQueue } from "./queue.ts";
import { type GenerateDeps, generateRoute, type GenerationCounters } from "./generate_route.ts";
import { listRuns, plotRuns, readRun, type RunMetrics } from "./runs.ts";
import { buildBrowserBundle } from "./bundle.ts";
import { pickLimits, publicInfo } from "./info.ts";
import { crossOriginGuard, noRouteHandler, requireJson } from "./safety.ts";
import { openAiApp } from "./openai/routes.ts";
import { errorResponse, serverError } from "./openai/errors.ts";

/** What the app serves. */
export interface AppOptions extends Partial<ServerLimits> {
  /** The device generations run on. */
  gpu: Gpu;
  /**
   * Gets a new device when the current one is lost (the server then keeps serving). Without
   * it, generations on a lost device fail with an error.
   */
  restartGpu?: () => Promise<Gpu>;
  /** A directory whose children are model directories or training runs, or a list of model dirs. */
  models?: string | readonly (string | ModelSource)[];
  /** A directory of training runs for the curves view (default: `models` when a directory). */
  runs?: string;
  /** The browser bundle's JavaScript; built with `deno bundle` on first request when absent. */
  appJs?: string;
  /** Process start (ms since epoch), for uptime in /api/health. */
  startedAt?: number;
  /**
   * Origins (`https://a.example`) whose pages may call the API: they get CORS headers. Other
   * cross-origin requests to /api and /v1 are refused with 403 (default: none allowed).
   */
  allowOrigins?: readonly string[];
}

/** The app (a Hono app underneath) as the server, tests and embedders use it. */
export interface BlockdiffApp {
  /**
   * Answers one request: pass it to `Deno.serve`, whose second argument (the connection
   * info, with `remoteAddr`) is the client each request counts against.
   */
  fetch(request: Request, info?: unknown): Response | Promise<Response>;
  /**
   * Answers a request given as a path, URL or Request, without a server (tests, embedding);
   * `info` stands in for `Deno.serve`'s connection info (`{ remoteAddr }`).
   */
  request(
    input: string | URL | Request,
    init?: RequestInit,
    info?: unknown,
  ): Response | Promise<Response>;
  /** The model registry (release it to free GPU memory when the server stops). */
  readonly models: ModelRegistry;
}

// Only this origin: no inline script or style, no frames, no plugins.
const CSP = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'"],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/** Who a request counts against: the peer address Deno.serve passes as the Hono env. */
function clientOf(c: Context): string {
  const env = c.env as { remoteAddr?: { hostname?: string } } | undefined;
  return env?.remoteAddr?.hostname ?? "unknown";
}

/**
 * Builds the app. CORS stays off (the page and the API share one origin) except for the
 * origins in `opts.allowOrigins`.
 */
export function createApp(opts: AppOptions): BlockdiffApp {
  const limits = resolveLimits(pickLimits(opts));
  const app = new Hono();
  const started = opts.startedAt ?? Date.now();
  const models = new ModelRegistry(opts.models ?? [], limits.maxLoadedModels);
  const runsDir = opts.runs ?? (typeof opts.models === "string" ? opts.models : null);
  const queue = new GenerationQueue(limits);
  const counters: GenerationCounters = {
    completed: 0,
    cancelled: 0,
    timedOut: 0,
    failed: 0,
    deviceRestarts: 0,
  };
  // The current device: replaced (with its models unloaded) when the old one is lost.
  let gpu = opts.gpu;
  const restartGpu = opts.restartGpu
    ? async () => {
      models.unloadAll();
      gpu = await opts.restartGpu!();
    }
    : undefined;
  let appJs: Promise<string> | null = opts.appJs === undefined ? null : Promise.resolve(opts.appJs);

  app.use("*", secureHeaders({ contentSecurityPolicy: CSP }));
  app.use(
    "/api/*",
    crossOriginGuard(opts.allowOrigins ?? [], (c) =>
      c.json({
        error:
          "cross-origin requests are refused; start the server with --allow-origin <origin> to allow one",
      }, 403)),
  );
  app.get("/", (c) => c.html(PAGE));
  app.get("/app.css", (c) => c.body(CSS, 200, { "content-type": "text/css; charset=utf-8" }));
  app.get("/app.js", async (c) => {
    appJs ??= buildBrowserBundle().catch((e) => {
      appJs = null; // a failed build is retried by the next request
      throw e;
    });
    return c.body(await appJs, 200, { "content-type": "text/javascript; charset=utf-8" });
  });

  app.get("/api/health", (c) =>
    c.json({
      ok: true,
      adapter: gpu.info.name,
      software: gpu.info.isSoftware,
      uptimeS: Math.round((Date.now() - started) / 1000),
      queue: queue.stats(),
      generations: counters,
    }));
  app.get("/api/info", async (c) => {
    await models.ready();
    return c.json(publicInfo(gpu, models.list(), limits));
  });

  app.get("/api/models", async (c) => {
    await models.refresh();
    return c.json({ models: models.list() });
  });
  app.get("/api/models/:name", async (c) => {
    const name = c.req.param("name");
    if (!MODEL_NAME.test(name)) return c.json({ error: "invalid model name" }, 400);
    await models.ready();
    const info = models.info(name);
    return info ? c.json(info) : c.json({ error: "no such model" }, 404);
  });
  app.get("/api/models/:name/weights", async (c) => {
    const name = c.req.param("name");
    if (!MODEL_NAME.test(name)) return c.json({ error: "invalid model name" }, 400);
    await models.ready();
    const info = models.info(name), path = models.weightsPath(name);
    if (!info || !path) return c.json({ error: "no such model" }, 404);
    const etag = `"${info.version}"`;
    if (c.req.header("if-none-match") === etag) return c.body(null, 304, { etag });
    const headers = {
      "content-type": "application/octet-stream",
      etag,
      "cache-control": "no-cache",
    };
    // HEAD gets the headers without opening the file (an unread stream would hold it open).
    if (c.req.method === "HEAD") {
      return c.body(null, 200, {
        ...headers,
        "content-length": String((await Deno.stat(path)).size),
      });
    }
    const file = await Deno.open(path, { read: true });
    return c.body(file.readable, 200, {
      ...headers,
      "content-length": String((await file.stat()).size),
    });
  });

  app.get("/api/models/:name/tokenizer.json", async (c) => {
    const name = c.req.param("name");
    if (!MODEL_NAME.test(name)) return c.json({ error: "invalid model name" }, 400);
    await models.ready();
    const path = models.tokenizerFile(name);
    if (!path) return c.json({ error: "this model uses a built-in tokenizer" }, 404);
    return c.body(await Deno.readFile(path), 200, {
      "content-type": "application/json",
      "cache-control": "no-cache",
    });
  });

  const generateDeps: GenerateDeps = {
    get gpu() {
      return gpu;
    },
    models,
    queue,
    limits,
    counters,
    clientOf,
    restartGpu,
  };
  app.post(
    "/api/generate",
    requireJson((c) =>
      c.json(
        { error: "the body must be JSON: send Content-Type: application/json", field: "body" },
        415,
      )
    ),
    bodyLimit({
      maxSize: limits.maxBodyBytes,
      onError: (c) => c.json({ error: `the body is over ${limits.maxBodyBytes} bytes` }, 413),
    }),
    async (_c, next) => {
      await models.ready();
      await next();
    },
    generateRoute(generateDeps),
  );
  // The OpenAI-compatible API shares the queue: one generation at a time for both.
  app.route("/v1", openAiApp(generateDeps, { allowOrigins: opts.allowOrigins }));

  const loadRuns = async (names: string[] | null): Promise<RunMetrics[]> => {
    if (runsDir === null) return [];
    const all = await listRuns(runsDir);
    const out: RunMetrics[] = [];
    for (const [name, dir] of all) {
      if (names && !names.includes(name)) continue;
      const r = await readRun(name, dir);
      if (r) out.push(r);
    }
    return out;
  };
  app.get("/api/runs", async (c) => c.json({ runs: (await loadRuns(null)).map((r) => r.info) }));
  app.get("/api/runs/plot.svg", async (c) => {
    const names = (c.req.query("runs") ?? "").split(",").filter((n) => n !== "");
    const metric = c.req.query("metric") ?? "loss";
    if (names.length > 16 || names.some((n) => !MODEL_NAME.test(n)) || !/^\w{1,64}$/.test(metric)) {
      return c.json({ error: "runs must be up to 16 run names and metric a field name" }, 400);
    }
    const svg = plotRuns(await loadRuns(names.length ? names : null), metric);
    return c.body(svg, 200, { "content-type": "image/svg+xml; charset=utf-8" });
  });

  app.notFound(
    noRouteHandler(
      () => app.routes,
      (c, status, message) =>
        c.req.path.startsWith("/v1/")
          ? errorResponse(serverError(status, message))
          : c.json({ error: message }, status),
    ),
  );
  app.onError((err, c) => {
    // The client gets no stack and no message (paths, internals); the log gets both.
    console.error(`${c.req.method} ${c.req.path}:`, err);
    if (c.req.path.startsWith("/v1/")) return errorResponse(serverError(500, "internal error"));
    return c.json({ error: "internal error" }, 500);
  });
  return Object.defineProperty(app, "models", { value: models }) as Hono & BlockdiffApp;
}
