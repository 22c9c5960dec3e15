/**
 * The wait policy's effect: the same long kernel (a 1024³ matmul) awaited with a plain await
 * (`spin`: dawn.node's setImmediate loop keeps a core busy) and with blockdiff's `hybrid`
 * wait (short spin, then sleeps), in the same run. On CPU drivers the hybrid wait leaves the
 * core to the driver; on real GPUs the two should be close.
 * @module
 */
import { type Gpu, setWaitPolicy, Tensor } from "@blockdiff/core";
import { matmul } from "@blockdiff/kernels";
import { emit } from "../harness.ts";

/** Times a 1024³ matmul round trip under each wait policy and prints the ratio. */
export async function benchWait(gpu: Gpu, n = 1024, iters = 3): Promise<void> {
  using a = Tensor.zeros(gpu, [n, n]);
  using b = Tensor.zeros(gpu, [n, n]);
  using out = Tensor.empty(gpu, [n, n]);
  const once = async () => {
    matmul(a, b, { out });
    await gpu.sync();
  };
  await once();
  const times: Record<string, number> = {};
  for (const policy of ["spin", "hybrid", "spin", "hybrid"] as const) {
    setWaitPolicy(policy);
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await once();
    const ms = (performance.now() - t0) / iters;
    times[policy] = Math.min(times[policy] ?? Infinity, ms);
  }
  setWaitPolicy("hybrid");
  emit({
    bench: "wait",
    case: `matmul ${n}^3 round trip`,
    ms: times.hybrid,
    spin_ms: times.spin,
    hybrid_ms: times.hybrid,
    hybrid_speedup: times.spin / times.hybrid,
  });
}
