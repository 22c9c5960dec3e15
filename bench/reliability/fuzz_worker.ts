/**
 * The fuzz worker: builds the base files once, then runs the cases the main thread sends, one at
 * a time. It runs in a Worker so that a case stuck in a synchronous loop can be stopped (the
 * main thread terminates the worker) and counted as a hang instead of stalling the run.
 * @module
 */
/// <reference lib="deno.worker" />
import { buildBases, type FileKind, runCase } from "./fuzz_cases.ts";

/** Messages from the main thread: first `init` (a scratch directory of its own), then cases. */
export type ToWorker =
  | { type: "init"; scratch: string }
  | { type: "case"; index: number; seed: number };

let scratch = "";
let bases: Awaited<ReturnType<typeof buildBases>> | undefined;

self.onmessage = async (ev: MessageEvent<ToWorker>) => {
  const msg = ev.data;
  if (msg.type === "init") {
    scratch = msg.scratch;
    bases = await buildBases(scratch);
    self.postMessage({ type: "ready", kinds: [...bases.keys()] as FileKind[] });
    return;
  }
  const result = await runCase(bases!, scratch, msg.index, msg.seed);
  self.postMessage({ type: "result", result });
};
