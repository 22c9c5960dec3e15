/**
 * Model weights in the browser: fetched once from GET /api/models/:name/weights, kept in the
 * Cache API under the model's version, and decoded from safetensors into host tensors with
 * model/io's file-system-free decoder.
 * @module
 */
import { decodeSafetensors } from "@blockdiff/model/safetensors";
import type { TensorMap } from "@blockdiff/model";

const CACHE = "blockdiff-weights-v1";

/** Bytes received so far and the total the server announced (0 when it did not). */
export type WeightsProgress = (received: number, total: number) => void;

/**
 * The weights file's bytes, from the Cache API when this version was fetched before. A download
 * streams into one buffer of the announced size while a tee of the same stream goes to the
 * cache, so the file never sits twice in the page's memory; `onProgress` follows the bytes.
 */
export async function fetchWeights(
  name: string,
  version: string,
  signal?: AbortSignal,
  onProgress?: WeightsProgress,
): Promise<{ bytes: Uint8Array; cached: boolean }> {
  const url = `/api/models/${encodeURIComponent(name)}/weights?v=${encodeURIComponent(version)}`;
  // The Cache API exists only in secure contexts (https or localhost).
  const cache = "caches" in globalThis ? await caches.open(CACHE) : null;
  const hit = await cache?.match(url);
  if (hit) {
    return { bytes: await gunzipIfNeeded(await readBody(hit, onProgress)), cached: true };
  }
  const r = await fetch(url, { signal });
  if (!r.ok || !r.body) throw new Error(`weights of ${name}: HTTP ${r.status}`);
  let body: Response = r;
  let stored: Promise<void> | null = null;
  if (cache) {
    // Older versions of the same model are dropped so the cache holds one copy per model.
    const prefix = `/api/models/${encodeURIComponent(name)}/weights?`;
    for (const req of await cache.keys()) {
      if (new URL(req.url).pathname + "?" === prefix) await cache.delete(req);
    }
    const [toCache, toPage] = r.body.tee();
    stored = cache.put(
      url,
      new Response(toCache, { headers: { "content-type": "application/octet-stream" } }),
    );
    body = new Response(toPage, { headers: r.headers });
  }
  const bytes = await readBody(body, onProgress);
  // A cache that refuses the file (quota) costs a later download, not this run.
  await stored?.catch(() => {});
  return { bytes: await gunzipIfNeeded(bytes), cached: false };
}

/** Reads a response body into one buffer (sized by Content-Length when given), reporting bytes. */
async function readBody(r: Response, onProgress?: WeightsProgress): Promise<Uint8Array> {
  const total = Number(r.headers.get("content-length") ?? 0) || 0;
  if (!r.body) return new Uint8Array(await r.arrayBuffer());
  const reader = r.body.getReader();
  let buf = new Uint8Array(total);
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (received + value.length > buf.length) {
      // No (or a wrong) Content-Length: grow by doubling.
      const grown = new Uint8Array(Math.max(2 * buf.length, received + value.length));
      grown.set(buf.subarray(0, received));
      buf = grown;
    }
    buf.set(value, received);
    received += value.length;
    onProgress?.(received, total);
  }
  return received === buf.length ? buf : buf.subarray(0, received);
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
