/**
 * What a generation run reports to the page, the same whether it runs on the server (read from
 * Server-Sent Events) or in this browser (built locally): the SSE event names and their data.
 * @module
 */
import type { DoneMessage, ProgressMessage } from "../progress.ts";

/** One report of a run. */
export type RunEvent =
  | { event: "queued"; data: { position: number } }
  | { event: "start"; data: { model: string; algo: string; prompt: string } }
  | { event: "step" | "block"; data: ProgressMessage }
  | { event: "done"; data: DoneMessage }
  | { event: "error"; data: { error: string } }
  | { event: "status"; data: { text: string } };
