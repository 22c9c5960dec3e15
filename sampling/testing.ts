/**
 * Test fixtures of the sampling member, for the tests of the members above it: a tiny model
 * config and a randomly initialised tiny model to sample from.
 * @module
 */
export * from "./_test_model.ts";
// Types of the members this API builds on that its signatures take or return, so that
// its documentation is whole.
export type * from "@blockdiff/core";
export type * from "@blockdiff/model";
