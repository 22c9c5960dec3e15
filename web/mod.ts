/**
 * @module
 * blockdiff's self-hosted web front end (Hono): `createApp` builds the routes.
 */
export * from "./app.ts";
