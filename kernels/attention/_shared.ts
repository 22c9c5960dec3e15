/**
 * Pieces the attention forward and backward launchers share: the `//#if VEC` source selection
 * and placeholder buffers for bindings a dispatch does not use.
 * @module
 */
import { type Gpu, Tensor } from "@blockdiff/core";

/** Keeps the `//#if VEC … //#else … //#endif` section that applies. */
export function selectVariant(code: string, vec: boolean): string {
  const out: string[] = [];
  let keep = true;
  for (const line of code.split("\n")) {
    const t = line.trim();
    if (t === "//#if VEC") keep = vec;
    else if (t === "//#else") keep = !vec;
    else if (t === "//#endif") keep = true;
    else if (keep) out.push(line);
  }
  return out.join("\n");
}

/** Placeholder tensors for bindings a dispatch does not use (each binding needs a buffer). */
export interface Placeholders {
  f32: Tensor;
  i32: Tensor;
}
const held = new WeakMap<Gpu, Placeholders>();

/** The device's placeholders, created on first use. */
export function placeholders(gpu: Gpu): Placeholders {
  let p = held.get(gpu);
  if (!p) {
    p = { f32: Tensor.empty(gpu, [4]), i32: Tensor.empty(gpu, [4], "i32") };
    held.set(gpu, p);
  }
  return p;
}
