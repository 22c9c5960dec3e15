/**
 * @module
 * Training: the AR / MDLM / SEDD / BD3-LM objectives, LR schedules and the trainer.
 */
export * from "./objectives.ts";
export * from "./lr.ts";
export * from "./trainer.ts";
// Types of the members this API builds on that its signatures take or return, so that
// its documentation is whole.
export type * from "@blockdiff/core";
export type * from "@blockdiff/data";
export type * from "@blockdiff/model";
export type * from "@blockdiff/model/deno";
export type * from "@blockdiff/schedules";
