/**
 * Test fixtures of the model member, for the tests and reliability scenarios of the members
 * above it: deterministic training states and the model configs they fit.
 * @module
 */
export * from "./io/testdata/checkpoint_fixture.ts";
