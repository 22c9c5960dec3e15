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
export { type LoadOptions, type LoadReport, runServerLoad } from "./load.ts";
// Types of the members this API builds on that its signatures take or return, so that
// its documentation is whole.
export type * from "@blockdiff/core";
export type * from "@blockdiff/data";
export type * from "@blockdiff/model";
export type * from "@blockdiff/sampling";
export type * from "@blockdiff/schedules";
