/**
 * Test fixtures of the sampling member, for the tests of the members above it: a tiny model
 * config and a randomly initialised tiny model to sample from.
 * @module
 */
export * from "./_test_model.ts";
