/**
 * Web-standard adapter handling shared by Deno (Dawn) and browsers: describing an adapter and
 * creating the device with the features and limits blockdiff's kernels use.
 * @module
 */
import { Gpu, type GpuInfo } from "./runtime.ts";

/** Optional features requested when the adapter offers them. */
export const WANTED_FEATURES: readonly GPUFeatureName[] = [
  "shader-f16",
  "timestamp-query",
  "subgroups" as GPUFeatureName,
];

/** Describes an adapter for the runtime and for `bd3 info`. */
export function describeAdapter(adapter: GPUAdapter): GpuInfo {
  const i = adapter.info as GPUAdapterInfo & {
    isFallbackAdapter?: boolean;
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  const text = `${i.vendor} ${i.architecture} ${i.device} ${i.description}`;
  const isSoftware = Boolean(i.isFallbackAdapter) ||
    /llvmpipe|lavapipe|swiftshader|warp|software/i.test(text);
  return {
    name: i.description || `${i.vendor} ${i.device}`.trim() || "unknown adapter",
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    isSoftware,
    subgroupMinSize: i.subgroupMinSize ?? 0,
    subgroupMaxSize: i.subgroupMaxSize ?? 0,
  };
}

/**
 * Creates the device with the adapter's maxima for the limits kernels depend on (storage
 * buffer sizes, workgroup storage, invocations) and the optional features it offers, and wraps
 * it in the runtime.
 */
export async function createGpu(adapter: GPUAdapter, label = "blockdiff"): Promise<Gpu> {
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: WANTED_FEATURES.filter((f) => adapter.features.has(f)),
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
      maxComputeWorkgroupSizeZ: l.maxComputeWorkgroupSizeZ,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    },
    label,
  });
  return new Gpu(device, describeAdapter(adapter));
}
