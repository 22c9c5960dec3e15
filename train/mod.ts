/**
 * @module
 * Training: the AR / MDLM / SEDD / BD3-LM objectives, LR schedules and the trainer.
 */
export * from "./objectives.ts";
export * from "./lr.ts";
export * from "./trainer.ts";
