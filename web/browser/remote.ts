/**
 * Server mode: POST /api/generate and read its Server-Sent Events. Aborting `signal` closes
 * the connection, which the server takes as cancellation.
 * @module
 */
import { readSse } from "../sse.ts";
import type { RunEvent } from "./events.ts";

/** Runs a generation on the server, reporting every event; resolves when the stream ends. */
export async function runRemote(
  body: Record<string, unknown>,
  onEvent: (e: RunEvent) => void,
  signal: AbortSignal,
): Promise<void> {
  const r = await fetch("/api/generate", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }),
    signal,
  });
  if (!r.ok || !r.body) {
    const msg = await r.json().then((j) => j.error as string).catch(() => `HTTP ${r.status}`);
    const retry = r.headers.get("retry-after");
    onEvent({ event: "error", data: { error: retry ? `${msg} (retry in ${retry} s)` : msg } });
    return;
  }
  await readSse(r.body, (e) => onEvent({ event: e.event, data: JSON.parse(e.data) } as RunEvent));
}
