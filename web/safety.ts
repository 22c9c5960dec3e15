/**
 * Safe defaults for the server's routes: generation routes take only `application/json`
 * bodies (a cross-site page can send a `text/plain` "simple request" without a CORS
 * preflight, but not JSON), cross-site requests to the API are refused unless their origin is
 * on the allow-list (which then gets CORS headers, preflight included), and a known path asked
 * with a wrong method is a 405 naming the methods it has.
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";

/** Whether a Content-Type header names JSON (`application/json`, any parameters). */
export function isJsonType(contentType: string | undefined): boolean {
  return (contentType ?? "").split(";")[0].trim().toLowerCase() === "application/json";
}

/** Refuses a body that is not `application/json` with `refuse(c)` (a 415). */
export function requireJson(refuse: (c: Context) => Response): MiddlewareHandler {
  return async (c, next) => {
    if (!isJsonType(c.req.header("content-type"))) return refuse(c);
    await next();
  };
}

/** An origin as browsers send it (`scheme://host[:port]`), or null when it is not a URL. */
export function normalizeOrigin(origin: string): string | null {
  try {
    const u = new URL(origin);
    return u.origin === "null" ? null : u.origin;
  } catch {
    return null;
  }
}

/**
 * Whether a request comes from a page of another site or origin: `Sec-Fetch-Site: cross-site`,
 * or an `Origin` whose host differs from the request's Host. The scheme is not compared: a
 * reverse proxy that ends TLS forwards https pages' requests as http.
 */
export function isCrossOrigin(c: Context): boolean {
  if (c.req.header("sec-fetch-site") === "cross-site") return true;
  const origin = c.req.header("origin");
  if (origin === undefined) return false; // not from a browser page (curl, SDKs) or same-origin GET
  const host = c.req.header("host") ?? new URL(c.req.url).host;
  const normal = normalizeOrigin(origin);
  return normal === null || new URL(normal).host !== host.toLowerCase();
}

/** Methods a preflight may ask for. */
const CORS_METHODS = "GET, HEAD, POST, OPTIONS";

/**
 * Refuses cross-origin requests (see {@link isCrossOrigin}) with `refuse(c)` (a 403) unless
 * their `Origin` is in `allowOrigins`; allowed ones get CORS headers for that origin only and
 * their preflight (`OPTIONS` with `Access-Control-Request-Method`) is answered here.
 */
export function crossOriginGuard(
  allowOrigins: readonly string[],
  refuse: (c: Context) => Response,
): MiddlewareHandler {
  const allowed = new Set(allowOrigins.map((o) => normalizeOrigin(o)).filter((o) => o !== null));
  return async (c, next) => {
    if (!isCrossOrigin(c)) return await next();
    const origin = normalizeOrigin(c.req.header("origin") ?? "");
    if (origin === null || !allowed.has(origin)) return refuse(c);
    const cors: Record<string, string> = {
      "access-control-allow-origin": origin,
      "access-control-expose-headers": "retry-after",
      vary: "Origin",
    };
    if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method")) {
      return c.body(null, 204, {
        ...cors,
        "access-control-allow-methods": CORS_METHODS,
        // SDKs send their own headers (authorization, x-stainless-*): allow what is asked.
        "access-control-allow-headers": c.req.header("access-control-request-headers") ??
          "content-type",
        "access-control-max-age": "600",
      });
    }
    await next();
    for (const [k, v] of Object.entries(cors)) c.res.headers.set(k, v);
  };
}

/** A route as Hono lists it in `app.routes`. */
export interface RouteEntry {
  /** HTTP method, or `ALL` for middleware. */
  method: string;
  /** The route's path pattern (`/api/models/:name`). */
  path: string;
}

function patternOf(path: string): RegExp {
  const parts = path.split("/").map((seg) =>
    seg.startsWith(":") ? "[^/]+" : seg === "*" ? ".*" : seg.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
  );
  return new RegExp(`^${parts.join("/")}/?$`);
}

/**
 * The methods `path` answers among `routes` (HEAD with GET, and OPTIONS), for a 405's Allow
 * header; empty when no route has this path.
 */
export function allowedMethods(routes: readonly RouteEntry[], path: string): string[] {
  const methods = new Set<string>();
  for (const r of routes) {
    if (r.method !== "ALL" && patternOf(r.path).test(path)) methods.add(r.method);
  }
  if (methods.size === 0) return [];
  if (methods.has("GET")) methods.add("HEAD");
  methods.add("OPTIONS");
  return [...methods].sort();
}

/**
 * The handler for requests no route answered: `OPTIONS` on a known path is a 204 and a wrong
 * method a 405, both with `Allow`; anything else `answer`s a 404. `routes` is read per request,
 * so routes added after this handler count.
 */
export function noRouteHandler(
  routes: () => readonly RouteEntry[],
  answer: (c: Context, status: 404 | 405, message: string) => Response,
): (c: Context) => Response {
  return (c) => {
    const allow = allowedMethods(routes(), c.req.path);
    if (allow.length === 0) return answer(c, 404, `no route ${c.req.method} ${c.req.path}`);
    if (c.req.method === "OPTIONS") return c.body(null, 204, { allow: allow.join(", ") });
    const r = answer(c, 405, `${c.req.path} answers ${allow.join(", ")}, not ${c.req.method}`);
    r.headers.set("allow", allow.join(", "));
    return r;
  };
}
