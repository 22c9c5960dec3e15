/**
 * POST /v1/completions: OpenAI's text completions over the native API's queue, limits and
 * counters. Answers one `text_completion` object, or (`stream: true`) its chunks as
 * Server-Sent Events ended by `data: [DONE]`. A client that disconnects, or a generation past
 * the timeout, stops the sampler between network calls, as with POST /api/generate.
 * @module
 */
import type { Context } from "hono";
import { checkAgainstModel } from "../validate.ts";
import type { GenerateDeps } from "../generate_route.ts";
import {
  choiceChunk,
  completion,
  type CompletionHeader,
  completionHeader,
  dataFrame,
  DONE_FRAME,
  errorFrame,
  usageOf,
} from "./chunks.ts";
import { errorResponse, invalidRequest, type OpenAiError, serverError } from "./errors.ts";
import { CompletionTimeout, DeviceRestarted, runCompletion } from "./generation.ts";
import { StopStream } from "./stop.ts";
import { type CompletionRequest, fromNativeError, parseCompletionRequest } from "./validate.ts";
import { sseResponse } from "../sse.ts";

class Disconnected extends Error {}

/** The OpenAI error for a failed run, counting it in `deps.counters`. */
function failure(deps: GenerateDeps, e: unknown, signal: AbortSignal): OpenAiError {
  const reason = signal.aborted ? signal.reason : null;
  if (reason instanceof CompletionTimeout) {
    deps.counters.timedOut++;
    return serverError(
      504,
      `generation timed out after ${deps.limits.generationTimeoutMs / 1000} s`,
      "timeout",
    );
  }
  if (signal.aborted) {
    deps.counters.cancelled++;
    return serverError(499, "cancelled", "cancelled");
  }
  deps.counters.failed++;
  if (e instanceof DeviceRestarted) {
    return serverError(
      503,
      "the GPU device was lost and has been restarted; retry the request",
      "device_restarted",
      { "retry-after": "1" },
    );
  }
  if (e instanceof RangeError) return invalidRequest(e.message);
  console.error("completion failed:", e);
  return serverError(500, "internal error");
}

/** The route handler. */
export function completionsRoute(deps: GenerateDeps): (c: Context) => Promise<Response> {
  const { limits } = deps;
  return async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return errorResponse(invalidRequest("the body must be JSON (a completion request object)"));
    }
    const parsed = parseCompletionRequest(body, limits, deps.models.names());
    if (!parsed.ok) return errorResponse(parsed.error);
    const req = parsed.value;
    const mismatch = checkAgainstModel(req.settings, deps.models.info(req.model)!.config);
    if (mismatch) return errorResponse(fromNativeError(mismatch));

    const ticket = deps.queue.enter(deps.clientOf(c));
    if (typeof ticket === "string") {
      const retry = { "retry-after": String(limits.retryAfterS) };
      return errorResponse(
        ticket === "client-limit"
          ? serverError(
            429,
            `at most ${limits.maxPerClient} generations per client at once`,
            "rate_limit_exceeded",
            retry,
          )
          : serverError(
            503,
            "the generation queue is full, try again shortly",
            "server_overloaded",
            retry,
          ),
      );
    }
    const ac = new AbortController();
    const abort = (reason: Error) => ac.abort(reason);
    const header = completionHeader(req.model);
    if (req.stream) {
      return streamed(
        deps,
        req,
        header,
        (hooks) => runCompletion(deps, req, ticket, ac.signal, abort, hooks),
        ac,
      );
    }

    // A JSON answer learns of a disconnect only from the request's signal.
    const clientSignal = c.req.raw.signal;
    const onDisconnect = () => abort(new Disconnected("client went away"));
    if (clientSignal.aborted) onDisconnect();
    clientSignal.addEventListener("abort", onDisconnect, { once: true });
    try {
      const r = await runCompletion(deps, req, ticket, ac.signal, abort);
      deps.counters.completed++;
      const completionTokens = r.choices.reduce((a, ch) => a + ch.tokens, 0);
      return c.json(
        completion(
          header,
          r.choices.map((ch, index) => ({
            text: ch.text,
            index,
            logprobs: null,
            finish_reason: ch.finish,
          })),
          usageOf(r.promptTokens, completionTokens),
        ),
      );
    } catch (e) {
      return errorResponse(failure(deps, e, ac.signal));
    } finally {
      clientSignal.removeEventListener("abort", onDisconnect);
    }
  };
}

function streamed(
  deps: GenerateDeps,
  req: CompletionRequest,
  header: CompletionHeader,
  run: (hooks: Parameters<typeof runCompletion>[5]) => ReturnType<typeof runCompletion>,
  ac: AbortController,
): Response {
  const enc = new TextEncoder();
  let closed = false;
  const streams = Array.from(
    { length: req.prompts.length * req.n },
    () => new StopStream(req.stop),
  );
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (frame: string) => {
        if (!closed) controller.enqueue(enc.encode(frame));
      };
      const sendText = (index: number, text: string) => {
        if (text !== "") send(dataFrame(choiceChunk(header, index, text)));
      };
      run({
        onStart(first, prompt) {
          if (req.echo) { for (let j = 0; j < req.n; j++) sendText(first + j, prompt); }
        },
        onText(index, text) {
          sendText(index, streams[index].push(text, false));
        },
        onChoice(index, choice) {
          sendText(index, streams[index].push(choice.completion, true));
          send(dataFrame(choiceChunk(header, index, "", choice.finish)));
        },
      }).then(
        (r) => {
          deps.counters.completed++;
          if (req.includeUsage) {
            const tokens = r.choices.reduce((a, ch) => a + ch.tokens, 0);
            send(dataFrame(completion(header, [], usageOf(r.promptTokens, tokens))));
          }
          send(DONE_FRAME);
        },
        (e) => send(errorFrame(failure(deps, e, ac.signal).error)),
      ).finally(() => {
        if (!closed) {
          closed = true;
          controller.close();
        }
      });
    },
    cancel() {
      // The reader went away: stop sampling; the queue place is released once it has stopped.
      closed = true;
      ac.abort(new Disconnected("client went away"));
    },
  });
  return sseResponse(body);
}
