/**
 * POST /api/generate: validates the request, takes a place in the generation queue (503 with
 * Retry-After when there is none), then runs `generate` on the server's GPU when its turn
 * comes, streaming progress as Server-Sent Events (or answering one JSON object). A client
 * that disconnects, or a generation past the timeout, aborts the sampler between network calls.
 * @module
 */
import type { Context } from "hono";
import { DeviceLostError, type Gpu } from "@blockdiff/core";
import { generate, type GenerateResult } from "@blockdiff/sampling";
import type { ServerLimits } from "./limits.ts";
import type { ModelRegistry } from "./models.ts";
import type { GenerationQueue } from "./queue.ts";
import { checkAgainstModel, parseGenerateRequest } from "./validate.ts";
import { toGenerateOptions } from "./options.ts";
import { doneMessage, ProgressTracker } from "./progress.ts";
import { sseFrame, sseResponse } from "./sse.ts";

/** How generations ended, for /api/health and the load figures. */
export interface GenerationCounters {
  /** Generations that finished and answered. */
  completed: number;
  /** Generations aborted because the client disconnected. */
  cancelled: number;
  /** Generations aborted past the generation timeout. */
  timedOut: number;
  /** Generations that ended with an error (including on a lost device). */
  failed: number;
  /** Times the GPU device was lost and replaced. */
  deviceRestarts: number;
}

/** What the route needs from the app. */
export interface GenerateDeps {
  /** The device generations run on. */
  gpu: Gpu;
  /** Where requested models are found and loaded. */
  models: ModelRegistry;
  /** The queue every generation waits in for its turn on the GPU. */
  queue: GenerationQueue;
  /** Request, queue and timeout limits in force. */
  limits: ServerLimits;
  /** Outcome counters this route increments. */
  counters: GenerationCounters;
  /** The client a request counts against (per-client limit). */
  clientOf(c: Context): string;
  /**
   * Replaces a lost GPU device (the server keeps running); absent, a lost device stays an
   * error. Called while holding the queue's turn, so no generation runs meanwhile.
   */
  restartGpu?: () => Promise<void>;
}

/** A generation hit a lost device; the device was replaced and the client may retry. */
class DeviceRestarted extends Error {}

class TimeoutReason extends Error {}
class DisconnectReason extends Error {}

/** A message safe to show: sampler range errors as they are, anything else generic. */
function publicError(e: unknown, signal: AbortSignal, limits: ServerLimits): string {
  if (e instanceof DeviceRestarted) {
    return "the GPU device was lost and has been restarted; retry the request";
  }
  if (signal.aborted && signal.reason instanceof TimeoutReason) {
    return `generation timed out after ${limits.generationTimeoutMs / 1000} s`;
  }
  if (signal.aborted) return "cancelled";
  if (e instanceof RangeError) return e.message;
  return "internal error";
}

function count(deps: GenerateDeps, e: unknown, signal: AbortSignal): void {
  if (signal.aborted && signal.reason instanceof TimeoutReason) deps.counters.timedOut++;
  else if (signal.aborted) deps.counters.cancelled++;
  else if (e instanceof DeviceRestarted) deps.counters.failed++;
  else {
    deps.counters.failed++;
    if (!(e instanceof RangeError)) console.error("generation failed:", e);
  }
}

/** The route handler. */
export function generateRoute(deps: GenerateDeps): (c: Context) => Promise<Response> {
  const { limits } = deps;
  return async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return c.json({ error: "the body must be JSON", field: "body" }, 400);
    }
    const parsed = parseGenerateRequest(body, limits, deps.models.names());
    if (!parsed.ok) return c.json(parsed.error, 400);
    const req = parsed.value;
    const info = deps.models.info(req.model)!;
    const mismatch = checkAgainstModel(req, info.config);
    if (mismatch) return c.json(mismatch, 400);

    const ticket = deps.queue.enter(deps.clientOf(c));
    if (typeof ticket === "string") {
      c.header("Retry-After", String(limits.retryAfterS));
      const error = ticket === "client-limit"
        ? `at most ${limits.maxPerClient} generations per client at once`
        : "the generation queue is full, try again shortly";
      return c.json({ error }, 503);
    }
    const ac = new AbortController();
    const onDisconnect = () => ac.abort(new DisconnectReason("client went away"));
    // A stream learns of a disconnect from its body being cancelled; a JSON answer has only
    // the request's signal (which Deno.serve also aborts after a completed response, by then
    // harmless: the listener is gone).
    const clientSignal = req.stream ? null : c.req.raw.signal;
    if (clientSignal?.aborted) onDisconnect();
    clientSignal?.addEventListener("abort", onDisconnect, { once: true });

    const run = async (
      send: (event: string, data: unknown) => void,
    ): Promise<GenerateResult> => {
      try {
        send("queued", { position: ticket.position() });
        await ticket.turn(ac.signal);
        // The timeout covers the generation, not the wait for the GPU.
        const timer = setTimeout(
          () => ac.abort(new TimeoutReason("timeout")),
          limits.generationTimeoutMs,
        );
        try {
          let m;
          try {
            m = await deps.models.load(deps.gpu, req.model);
          } catch (e) {
            throw await recoverFrom(e);
          }
          const tracker = new ProgressTracker(m.tokenizer, req.prompt);
          send("start", { model: req.model, algo: m.info.algo, prompt: req.prompt });
          try {
            return await generate(
              m.dit,
              m.tokenizer,
              toGenerateOptions(req, {
                signal: ac.signal,
                onStep: (e) => send(e.kind, tracker.update(e)),
              }),
            );
          } catch (e) {
            throw await recoverFrom(e);
          }
        } finally {
          clearTimeout(timer);
          // A cancelled run may leave recorded work behind; flush it before the next turn.
          await deps.gpu.sync().catch(() => {});
        }
      } finally {
        ticket.release();
        clientSignal?.removeEventListener("abort", onDisconnect);
      }
    };

    /** A lost device is replaced while this request still holds the GPU's turn. */
    const recoverFrom = async (e: unknown): Promise<unknown> => {
      if (!(e instanceof DeviceLostError) || !deps.restartGpu) return e;
      console.error(`GPU device lost (${e.message}); restarting it`);
      await deps.restartGpu();
      deps.counters.deviceRestarts++;
      return new DeviceRestarted(e.message);
    };

    if (!req.stream) return await runJson(c, deps, run, ac);
    return streamGeneration(deps, run, ac);
  };
}

async function runJson(
  c: Context,
  deps: GenerateDeps,
  run: (send: (event: string, data: unknown) => void) => Promise<GenerateResult>,
  ac: AbortController,
): Promise<Response> {
  try {
    const r = await run(() => {});
    deps.counters.completed++;
    return c.json(doneMessage(r));
  } catch (e) {
    count(deps, e, ac.signal);
    if (e instanceof DeviceRestarted) {
      return c.json({ error: publicError(e, ac.signal, deps.limits) }, 503, { "retry-after": "1" });
    }
    const status = ac.signal.reason instanceof TimeoutReason
      ? 504
      : ac.signal.aborted
      ? 499
      : e instanceof RangeError
      ? 400
      : 500;
    return c.json({ error: publicError(e, ac.signal, deps.limits) }, status as 400);
  }
}

function streamGeneration(
  deps: GenerateDeps,
  run: (send: (event: string, data: unknown) => void) => Promise<GenerateResult>,
  ac: AbortController,
): Response {
  const enc = new TextEncoder();
  let closed = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const send = (event: string, data: unknown) => {
        if (!closed) controller.enqueue(enc.encode(sseFrame(event, data)));
      };
      run(send).then(
        (r) => {
          deps.counters.completed++;
          send("done", doneMessage(r));
        },
        (e) => {
          count(deps, e, ac.signal);
          send("error", { error: publicError(e, ac.signal, deps.limits) });
        },
      ).finally(() => {
        if (!closed) {
          closed = true;
          controller.close();
        }
      });
    },
    cancel() {
      // The reader (client) went away: stop sampling and give the place back.
      closed = true;
      // The place is released by `run` once the sampler has actually stopped, so the next
      // generation never starts while this one still has GPU work in flight.
      ac.abort(new DisconnectReason("client went away"));
    },
  });
  return sseResponse(body);
}
