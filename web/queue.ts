/**
 * The generation queue: one generation runs on the server's GPU at a time (GPU work of two
 * requests must never interleave on the shared runtime), a bounded number wait in FIFO order,
 * and each client may hold only a few places. When full, callers answer 503.
 * @module
 */

/** Why a place was refused. */
export type QueueRefusal = "queue-full" | "client-limit";

/** A place in the queue. Always `release()` it, whether it ran, failed or was cancelled. */
export interface Ticket {
  /** Resolves when this ticket may use the GPU; rejects with the signal's reason on abort. */
  turn(signal?: AbortSignal): Promise<void>;
  /** Tickets ahead of this one (0 when running). */
  position(): number;
  /** Leaves the queue (or the GPU), letting the next ticket run; safe to call twice. */
  release(): void;
}

/** Counters for /api/health and the load figures. */
export interface QueueStats {
  /** Generations holding the GPU now (0 or 1). */
  running: number;
  /** Generations waiting behind the running one. */
  waiting: number;
  /** Tickets given out since start. */
  admitted: number;
  /** Requests turned away because the queue or the client's share was full. */
  refused: number;
}

interface Entry {
  client: string;
  start: () => void;
  started: boolean;
  ready: Promise<void>;
}

/** A FIFO of one running and at most `maxWaiting` waiting generations. */
export class GenerationQueue {
  readonly #maxWaiting: number;
  readonly #maxPerClient: number;
  readonly #entries: Entry[] = [];
  readonly #perClient = new Map<string, number>();
  #admitted = 0;
  #refused = 0;

  /** Queue allowing `maxWaiting` waiting tickets in all and `maxPerClient` (running or waiting) per client. */
  constructor(opts: { maxWaiting: number; maxPerClient: number }) {
    this.#maxWaiting = opts.maxWaiting;
    this.#maxPerClient = opts.maxPerClient;
  }

  /** Current counters. */
  stats(): QueueStats {
    const running = this.#entries.length > 0 ? 1 : 0;
    return {
      running,
      waiting: this.#entries.length - running,
      admitted: this.#admitted,
      refused: this.#refused,
    };
  }

  /** Takes a place for `client`, or says why not. */
  enter(client: string): Ticket | QueueRefusal {
    if ((this.#perClient.get(client) ?? 0) >= this.#maxPerClient) {
      this.#refused++;
      return "client-limit";
    }
    if (this.#entries.length >= 1 + this.#maxWaiting) {
      this.#refused++;
      return "queue-full";
    }
    let start!: () => void;
    const ready = new Promise<void>((resolve) => (start = resolve));
    const entry: Entry = { client, start, started: false, ready };
    this.#entries.push(entry);
    this.#perClient.set(client, (this.#perClient.get(client) ?? 0) + 1);
    this.#admitted++;
    this.#startHead();
    let released = false;
    return {
      turn: (signal) => waitOrAbort(entry.ready, signal),
      position: () => Math.max(this.#entries.indexOf(entry), 0),
      release: () => {
        if (released) return;
        released = true;
        const i = this.#entries.indexOf(entry);
        if (i >= 0) this.#entries.splice(i, 1);
        const n = (this.#perClient.get(client) ?? 1) - 1;
        if (n > 0) this.#perClient.set(client, n);
        else this.#perClient.delete(client);
        this.#startHead();
      },
    };
  }

  #startHead(): void {
    const head = this.#entries[0];
    if (head && !head.started) {
      head.started = true;
      head.start();
    }
  }
}

function waitOrAbort(ready: Promise<void>, signal?: AbortSignal): Promise<void> {
  if (!signal) return ready;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    ready.then(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    });
  });
}
