/**
 * @module
 * blockdiff's self-hosted web front end (Hono): `createApp` builds the page, the browser bundle
 * route and the JSON API; the rest are its parts (limits, validation, queue, model registry,
 * SSE framing and parsing, the bundle builder, the loopback load test).
 */
export * from "./app.ts";
export * from "./limits.ts";
export * from "./validate.ts";
export * from "./options.ts";
export * from "./progress.ts";
export * from "./queue.ts";
export * from "./models.ts";
export * from "./runs.ts";
export * from "./sse.ts";
export * from "./bundle.ts";
export * from "./generate_route.ts";
export { type LoadOptions, type LoadReport, runServerLoad } from "./load.ts";
