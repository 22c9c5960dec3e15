/**
 * Decoding safetensors bytes held in memory: no file-system access, so browsers use it too
 * (the web demo decodes downloaded weights with it). F16 and BF16 are widened to f32.
 * @module
 */
import { decodeBfloat16, decodeHalf } from "@blockdiff/core";
import { SafetensorsError } from "./errors.ts";
import type { HostTensor, TensorMap } from "./host_tensor.ts";
import {
  parseHeaderLength,
  parseSafetensorsHeader,
  type TensorInfo,
} from "./safetensors_header.ts";

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Tensors and metadata of a safetensors file. */
export interface SafetensorsContents {
  /** Tensors by key. */
  tensors: TensorMap;
  /** The `__metadata__` map, or null. */
  metadata: Record<string, string> | null;
}

/** Turns the raw little-endian bytes of one tensor into a {@linkcode HostTensor}. */
export function decodeTensor(name: string, info: TensorInfo, bytes: Uint8Array): HostTensor {
  if (!LITTLE_ENDIAN) throw new SafetensorsError(`${name}: big-endian hosts are not supported`);
  // Copy into a fresh, aligned buffer unless `bytes` already owns one exactly.
  const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength &&
      bytes.buffer instanceof ArrayBuffer
    ? bytes.buffer
    : bytes.slice().buffer;
  const shape = [...info.shape];
  switch (info.dtype) {
    case "F32":
      return { dtype: "f32", shape, data: new Float32Array(own) };
    case "F16":
      return { dtype: "f32", shape, data: decodeHalf(new Uint16Array(own)) };
    case "BF16":
      return { dtype: "f32", shape, data: decodeBfloat16(new Uint16Array(own)) };
    case "I32":
      return { dtype: "i32", shape, data: new Int32Array(own) };
    case "I64":
      return { dtype: "i64", shape, data: new BigInt64Array(own) };
    case "U8":
      return { dtype: "u8", shape, data: new Uint8Array(own) };
    case "BOOL": {
      const data = new Uint8Array(own);
      const bad = data.findIndex((v) => v > 1);
      if (bad >= 0) {
        throw new SafetensorsError(
          `${name}: tensor "${info.key}": BOOL element ${bad} is ${data[bad]}, not 0 or 1`,
        );
      }
      return { dtype: "bool", shape, data };
    }
  }
}

/**
 * Decodes a whole safetensors file held in memory. `name` labels errors.
 *
 * @example
 * ```ts
 * import { encodeSafetensors, f32Tensor } from "@blockdiff/model/io";
 * import { decodeSafetensors } from "@blockdiff/model/deno";
 * const bytes = encodeSafetensors(new Map([["w", f32Tensor([2], [1, 2])]]));
 * console.log(decodeSafetensors(bytes).tensors.get("w")?.data); // Float32Array [1, 2]
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array, name = "<memory>"): SafetensorsContents {
  const n = parseHeaderLength(name, bytes, bytes.length);
  const header = parseSafetensorsHeader(name, bytes.subarray(8, 8 + n), bytes.length - 8 - n);
  const tensors: TensorMap = new Map();
  for (const info of header.tensors.values()) {
    const raw = bytes.slice(header.dataStart + info.begin, header.dataStart + info.end);
    tensors.set(info.key, decodeTensor(name, info, raw));
  }
  return { tensors, metadata: header.metadata ? { ...header.metadata } : null };
}
// Types the decoder returns, so this entry's documentation is whole.
export type * from "./host_tensor.ts";
export type * from "./safetensors_header.ts";
