/**
 * The visitor's GPU: a WebGPU device from `navigator.gpu`, wrapped in the same `Gpu` runtime
 * the server uses. Requests the features and limits the kernels use, like `acquireGpu` does.
 * @module
 */
import { createGpu, type Gpu } from "@blockdiff/core";

/** Why the in-browser mode cannot run here, or null when WebGPU is available. */
export function webGpuMissing(): string | null {
  return "gpu" in navigator ? null : "this browser has no WebGPU (navigator.gpu)";
}

let held: Promise<Gpu> | null = null;

/** The page's one Gpu (created on first use). */
export function browserGpu(): Promise<Gpu> {
  held ??= create().catch((e) => {
    held = null;
    throw e;
  });
  return held;
}

async function create(): Promise<Gpu> {
  const missing = webGpuMissing();
  if (missing) throw new Error(missing);
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new Error("WebGPU offers no adapter here");
  return await createGpu(adapter, "blockdiff (browser)");
}
