/**
 * Waiting on GPU promises without stealing a core from a software driver.
 *
 * dawn.node resolves its promises (mapAsync, onSubmittedWorkDone, popErrorScope) from a
 * `setImmediate` loop that runs for as long as any of them is pending. On a CPU Vulkan
 * driver that loop keeps one core at 100 % while the driver's own threads need it, which
 * measured 2–4.5× slower on long kernels (`deno task bench wait`). While a
 * promise is pending we therefore interleave short synchronous sleeps with the event loop:
 * the first ticks spin (latency stays low for short waits), later ones sleep for longer.
 *
 * In a browser (or any runtime without a busy-waiting binding) `settle` is a plain await.
 * @module
 */

/** How the host waits for GPU promises. */
export type WaitPolicy = "hybrid" | "spin";

let policy: WaitPolicy = "hybrid";
const sleeper = typeof SharedArrayBuffer === "function"
  ? new Int32Array(new SharedArrayBuffer(4))
  : undefined;
const canSleep = (() => {
  if (!sleeper) return false;
  try {
    Atomics.wait(sleeper, 0, 0, 0);
    return true;
  } catch {
    return false; // browsers forbid Atomics.wait on the main thread
  }
})();

/** Chooses how `settle` waits: `hybrid` (default) or `spin` (plain await, lowest latency). */
export function setWaitPolicy(p: WaitPolicy): void {
  policy = p;
}

/** The current wait policy. */
export function getWaitPolicy(): WaitPolicy {
  return policy;
}

function sleepMs(ms: number): void {
  if (sleeper) Atomics.wait(sleeper, 0, 0, ms);
}

const nextTick: (cb: () => void) => void = typeof setImmediate === "function"
  ? (cb) => setImmediate(cb)
  : (cb) => setTimeout(cb, 0);

/**
 * Awaits a GPU promise. With the hybrid policy the host spins for ~0.3 ms, then sleeps
 * in slices that grow to 1 ms between event-loop turns, so the driver keeps the CPU.
 */
export async function settle<T>(promise: Promise<T>): Promise<T> {
  if (policy === "spin" || !canSleep) return await promise;
  let done = false;
  const tracked = promise.finally(() => {
    done = true;
  });
  const start = performance.now();
  const pump = () => {
    if (done) return;
    const waited = performance.now() - start;
    if (waited > 0.3) sleepMs(Math.min(1, 0.05 + waited / 20));
    nextTick(pump);
  };
  nextTick(pump);
  return await tracked;
}
