/**
 * The visitor's GPU: a WebGPU device from `navigator.gpu`, wrapped in the same `Gpu` runtime
 * the server uses. Requests the features and limits the kernels use, like `acquireGpu` does.
 * @module
 */
import { Gpu, type GpuInfo } from "../../core/mod.ts";

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
  const wanted = ["shader-f16", "timestamp-query", "subgroups"] as GPUFeatureName[];
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: wanted.filter((f) => adapter.features.has(f)),
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    },
    label: "blockdiff (browser)",
  });
  const i = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  const text = `${i.vendor} ${i.architecture} ${i.device} ${i.description}`;
  const info: GpuInfo = {
    name: i.description || `${i.vendor} ${i.architecture}`.trim() || "browser WebGPU adapter",
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    isSoftware: /swiftshader|llvmpipe|lavapipe|warp|software/i.test(text),
    subgroupMinSize: i.subgroupMinSize ?? 0,
    subgroupMaxSize: i.subgroupMaxSize ?? 0,
  };
  return new Gpu(device, info);
}
