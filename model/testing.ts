/**
 * Test fixtures of the model member, for the tests and reliability scenarios of the members
 * above it: deterministic training states and the model configs they fit.
 * @module
 */
export * from "./io/testdata/checkpoint_fixture.ts";
// Types of the members this API builds on that its signatures take or return, so that
// its documentation is whole.
export type * from "@blockdiff/core";
export type * from "@blockdiff/model/io";
export type * from "@blockdiff/model/deno";
