/**
 * Model weights in the browser: fetched once from GET /api/models/:name/weights, kept in the
 * Cache API under the model's version, and decoded from safetensors into host tensors with
 * model/io's file-system-free decoder.
 * @module
 */
import { decodeSafetensors } from "@blockdiff/model/safetensors";
import type { TensorMap } from "@blockdiff/model";

const CACHE = "blockdiff-weights-v1";

/** The weights file's bytes, from the Cache API when this version was fetched before. */
export async function fetchWeights(
  name: string,
  version: string,
  signal?: AbortSignal,
): Promise<{ bytes: Uint8Array; cached: boolean }> {
  const url = `/api/models/${encodeURIComponent(name)}/weights?v=${encodeURIComponent(version)}`;
  // The Cache API exists only in secure contexts (https or localhost).
  const cache = "caches" in globalThis ? await caches.open(CACHE) : null;
  const hit = await cache?.match(url);
  if (hit) {
    return { bytes: await gunzipIfNeeded(new Uint8Array(await hit.arrayBuffer())), cached: true };
  }
  const r = await fetch(url, { signal });
  if (!r.ok) throw new Error(`weights of ${name}: HTTP ${r.status}`);
  const bytes = new Uint8Array(await r.arrayBuffer());
  if (cache) {
    // Older versions of the same model are dropped so the cache holds one copy per model.
    const prefix = `/api/models/${encodeURIComponent(name)}/weights?`;
    for (const req of await cache.keys()) {
      if (new URL(req.url).pathname + "?" === prefix) await cache.delete(req);
    }
    await cache.put(
      url,
      new Response(bytes, { headers: { "content-type": "application/octet-stream" } }),
    );
  }
  return { bytes: await gunzipIfNeeded(bytes), cached: false };
}

/** Unpacks a packaged model's `model.safetensors.gz` (gzip magic 1f 8b); other bytes pass. */
async function gunzipIfNeeded(bytes: Uint8Array): Promise<Uint8Array> {
  if (bytes.length < 2 || bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("gzip"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Float tensors of a safetensors file (F16 / BF16 widened to f32; other dtypes skipped). */
export function decodeFloatTensors(bytes: Uint8Array, name: string): TensorMap {
  const out: TensorMap = new Map();
  for (const [key, t] of decodeSafetensors(bytes, name).tensors) {
    if (t.dtype === "f32") out.set(key, t);
  }
  return out;
}
