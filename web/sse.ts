/**
 * Server-Sent Events: framing on the server and an incremental parser for readers (the page,
 * the in-browser mode's tests and the load test all read the stream with {@link SseParser}).
 * @module
 */

/** One event: its name and its (JSON) data line. */
export interface SseEvent {
  /** Event name (`message` when the frame names none). */
  event: string;
  /** The data lines joined by newlines (JSON text from this server). */
  data: string;
}

/** Frames one event; `data` is JSON, so it never contains a newline. */
export function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/**
 * A streamed Server-Sent Events response: never cached, and not buffered by nginx-style proxies
 * (`X-Accel-Buffering: no`), so each frame reaches the client as it is written.
 */
export function sseResponse(body: ReadableStream<Uint8Array>): Response {
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
}

/** Incremental parser: feed text chunks, get the complete events so far. */
export class SseParser {
  #buffer = "";

  /** Events completed by `chunk`. */
  push(chunk: string): SseEvent[] {
    this.#buffer += chunk.replaceAll("\r\n", "\n");
    const out: SseEvent[] = [];
    let end: number;
    while ((end = this.#buffer.indexOf("\n\n")) >= 0) {
      const frame = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) out.push({ event, data: data.join("\n") });
    }
    return out;
  }
}

/** Reads a response body as SSE events, until it ends or `onEvent` returns false. */
export async function readSse(
  body: ReadableStream<Uint8Array>,
  onEvent: (e: SseEvent) => boolean | void,
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const e of parser.push(decoder.decode(value, { stream: true }))) {
        if (onEvent(e) === false) {
          await reader.cancel();
          return;
        }
      }
    }
  } finally {
    reader.releaseLock();
  }
}
