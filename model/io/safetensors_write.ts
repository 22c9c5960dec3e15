/**
 * Writing safetensors files. f32 tensors are stored as F32 (or F16 / BF16 on request); integer
 * and boolean tensors as stored. The data section is ordered by element size (largest first) and
 * then by key, so that every tensor is naturally aligned (for a file of one dtype this is simply
 * key order); the header lists tensors in that order after `__metadata__` and is padded with
 * spaces to a multiple of 8 bytes, as the reference writer does. `writeSafetensors`
 * (safetensors_save.ts) writes the same bytes to a file atomically.
 * @module
 */
import { encodeBfloat16, encodeHalf } from "@blockdiff/core";
import type { AtomicWriteOptions } from "./_atomic.ts";
import { SafetensorsError } from "./errors.ts";
import { checkHostTensor, type HostTensor } from "./host_tensor.ts";
import { DTYPE_BYTES, type SafetensorsDtype } from "./safetensors_header.ts";

/** Options of {@linkcode encodeSafetensors} and `writeSafetensors`. */
export interface SafetensorsWriteOptions extends AtomicWriteOptions {
  /** How f32 tensors are stored (default `"F32"`). */
  floatDtype?: "F32" | "F16" | "BF16";
  /** The `__metadata__` map (for PyTorch readers `{format: "pt"}` is added when absent). */
  metadata?: Record<string, string>;
}

/** Tensors to write: a map or a plain record from key to tensor. */
export type TensorsInput = ReadonlyMap<string, HostTensor> | Readonly<Record<string, HostTensor>>;

interface Planned {
  key: string;
  tensor: HostTensor;
  dtype: SafetensorsDtype;
  bytes: number;
}

/** The header bytes (length prefix included) and the tensors in data order. */
interface Plan {
  head: Uint8Array;
  items: Planned[];
  total: number;
}

function storedDtype(t: HostTensor, floatDtype: "F32" | "F16" | "BF16"): SafetensorsDtype {
  switch (t.dtype) {
    case "f32":
      return floatDtype;
    case "i32":
      return "I32";
    case "i64":
      return "I64";
    case "u8":
      return "U8";
    case "bool":
      return "BOOL";
  }
}

/** Lays out the file: header bytes, items in data order, total size (shared with the file writer). */
export function plan(name: string, tensors: TensorsInput, options: SafetensorsWriteOptions): Plan {
  const floatDtype = options.floatDtype ?? "F32";
  if (!["F32", "F16", "BF16"].includes(floatDtype)) {
    throw new SafetensorsError(`${name}: floatDtype must be F32, F16 or BF16, not ${floatDtype}`);
  }
  const entries = tensors instanceof Map
    ? [...tensors.entries()]
    : Object.entries(tensors as Record<string, HostTensor>);
  const items: Planned[] = entries.map(([key, tensor]) => {
    if (key === "__metadata__") {
      throw new SafetensorsError(`${name}: "__metadata__" cannot be a tensor key`);
    }
    try {
      checkHostTensor(tensor, `tensor "${key}"`);
    } catch (e) {
      throw new SafetensorsError(`${name}: ${(e as Error).message}`);
    }
    const dtype = storedDtype(tensor, floatDtype);
    return { key, tensor, dtype, bytes: tensor.data.length * DTYPE_BYTES[dtype] };
  });
  items.sort((a, b) =>
    DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype] || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  );
  const header: Record<string, unknown> = {};
  const metadata = { format: "pt", ...options.metadata };
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== "string") {
      throw new SafetensorsError(`${name}: metadata "${k}" must be a string`);
    }
  }
  header.__metadata__ = metadata;
  let offset = 0;
  for (const it of items) {
    const entry = {
      dtype: it.dtype,
      shape: [...it.tensor.shape],
      data_offsets: [offset, offset + it.bytes],
    };
    Object.defineProperty(header, it.key, { value: entry, enumerable: true });
    offset += it.bytes;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return { head, items, total: head.length + offset };
}

/** The little-endian bytes of one planned tensor. */
/** One tensor's bytes in its stored dtype. */
export function tensorBytes(it: Planned): Uint8Array {
  const data = it.tensor.data;
  if (it.dtype === "F16") return asBytes(encodeHalf(data as Float32Array));
  if (it.dtype === "BF16") return asBytes(encodeBfloat16(data as Float32Array));
  return asBytes(data);
}

function asBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Serialises `tensors` into one in-memory safetensors file. */
export function encodeSafetensors(
  tensors: TensorsInput,
  options: SafetensorsWriteOptions = {},
): Uint8Array {
  const p = plan("<memory>", tensors, options);
  const out = new Uint8Array(p.total);
  out.set(p.head, 0);
  let at = p.head.length;
  for (const it of p.items) {
    out.set(tensorBytes(it), at);
    at += it.bytes;
  }
  return out;
}
