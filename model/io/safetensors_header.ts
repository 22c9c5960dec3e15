/**
 * The safetensors header: an 8-byte little-endian length N, then N bytes of UTF-8 JSON mapping
 * each tensor key to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the first
 * byte after the header) plus an optional `__metadata__` map of strings. This module validates a
 * header completely before anything trusts it.
 *
 * Strictness (as in the reference Rust reader): the tensors must tile the data section exactly —
 * sorted by offset they are contiguous from 0 to the end of the file, with no overlap, no gap and
 * no trailing bytes. A truncated file therefore always fails here, before any tensor is read.
 * Unknown fields inside a tensor entry are ignored.
 * @module
 */
import { formatShape } from "@blockdiff/core";
import { isJsonObject, type JsonValue, parseBoundedJson } from "./_json.ts";
import { SafetensorsError } from "./errors.ts";

/** Element types this reader and writer accept (the safetensors names). */
export type SafetensorsDtype = "F32" | "F16" | "BF16" | "I32" | "I64" | "U8" | "BOOL";

/** Bytes per element of each supported dtype. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
  U8: 1,
  BOOL: 1,
};

/** Largest accepted header, in bytes (the reference reader's cap). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Deepest JSON nesting accepted in a header (a valid one needs 3). */
export const MAX_HEADER_DEPTH = 8;

/** One tensor entry of a validated header. */
export interface TensorInfo {
  /** The tensor's key. */
  readonly key: string;
  /** Stored element type. */
  readonly dtype: SafetensorsDtype;
  /** Dimensions (non-negative safe integers). */
  readonly shape: readonly number[];
  /** First byte, relative to the start of the data section. */
  readonly begin: number;
  /** One past the last byte, relative to the start of the data section. */
  readonly end: number;
}

/** A validated header. */
export interface SafetensorsHeader {
  /** N, the JSON length (including padding) stored in the first 8 bytes. */
  readonly headerLength: number;
  /** Absolute file offset of the data section (8 + N). */
  readonly dataStart: number;
  /** Length of the data section in bytes. */
  readonly dataLength: number;
  /** Tensors by key, in header order. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** The `__metadata__` map, or null when absent. */
  readonly metadata: Readonly<Record<string, string>> | null;
}

function isDtype(v: unknown): v is SafetensorsDtype {
  return typeof v === "string" && Object.hasOwn(DTYPE_BYTES, v);
}

function isCount(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Reads N from the first 8 bytes and checks it against the file size. `prefix` must hold at least
 * the first 8 bytes of a file of `fileSize` bytes; `name` labels errors.
 */
export function parseHeaderLength(name: string, prefix: Uint8Array, fileSize: number): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new SafetensorsError(
      `${name}: file is ${fileSize} bytes, too short for the 8-byte header length (truncated?)`,
    );
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(
      `${name}: header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes ` +
        `(corrupt file or not a safetensors file)`,
    );
  }
  const len = Number(n);
  if (8 + len > fileSize) {
    throw new SafetensorsError(
      `${name}: header length ${len} runs past the end of the ${fileSize}-byte file (truncated?)`,
    );
  }
  return len;
}

/**
 * Parses and validates the JSON header. `json` is the N header bytes; `dataLength` is the size
 * of the data section (file size − 8 − N). Throws {@linkcode SafetensorsError} naming `name` and
 * the offending key.
 */
export function parseSafetensorsHeader(
  name: string,
  json: Uint8Array,
  dataLength: number,
): SafetensorsHeader {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(json);
  } catch {
    throw new SafetensorsError(`${name}: header is not valid UTF-8`);
  }
  if (!text.startsWith("{")) {
    throw new SafetensorsError(`${name}: header does not start with "{" (not a safetensors file?)`);
  }
  let root: JsonValue;
  try {
    root = parseBoundedJson(text, { maxLength: MAX_HEADER_BYTES, maxDepth: MAX_HEADER_DEPTH });
  } catch (e) {
    throw new SafetensorsError(`${name}: header ${(e as Error).message}`);
  }
  if (!isJsonObject(root)) throw new SafetensorsError(`${name}: header is not a JSON object`);

  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> | null = null;
  for (const [key, value] of Object.entries(root)) {
    if (key === "__metadata__") {
      metadata = parseMetadata(name, value);
      continue;
    }
    tensors.set(key, parseEntry(name, key, value, dataLength));
  }
  checkTiling(name, tensors, dataLength);
  const headerLength = json.length;
  return { headerLength, dataStart: 8 + headerLength, dataLength, tensors, metadata };
}

function parseMetadata(name: string, value: JsonValue): Record<string, string> {
  if (!isJsonObject(value)) {
    throw new SafetensorsError(`${name}: __metadata__ must be an object of strings`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw new SafetensorsError(`${name}: __metadata__ entry "${k}" is not a string`);
    }
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true });
  }
  return out;
}

function parseEntry(name: string, key: string, value: JsonValue, dataLength: number): TensorInfo {
  const where = `${name}: tensor "${key}"`;
  if (!isJsonObject(value)) throw new SafetensorsError(`${where}: entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isDtype(dtype)) {
    throw new SafetensorsError(
      `${where}: dtype ${JSON.stringify(dtype ?? null)} is not supported ` +
        `(supported: ${Object.keys(DTYPE_BYTES).join(", ")})`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new SafetensorsError(
      `${where}: shape ${JSON.stringify(shape ?? null)} is not a list of non-negative integers`,
    );
  }
  if (
    !Array.isArray(offsets) || offsets.length !== 2 || !isCount(offsets[0]) ||
    !isCount(offsets[1])
  ) {
    throw new SafetensorsError(
      `${where}: data_offsets ${JSON.stringify(offsets ?? null)} is not a pair of ` +
        `non-negative integers`,
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) {
    throw new SafetensorsError(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
  }
  const dims = shape as number[];
  let elements = 1;
  for (const d of dims) {
    elements *= d;
    if (elements > Number.MAX_SAFE_INTEGER) {
      throw new SafetensorsError(
        `${where}: shape ${formatShape(dims)} has more than 2^53 elements`,
      );
    }
  }
  const bytes = elements * DTYPE_BYTES[dtype];
  if (!Number.isSafeInteger(bytes)) {
    throw new SafetensorsError(`${where}: shape ${formatShape(dims)} ${dtype} exceeds 2^53 bytes`);
  }
  if (end - begin !== bytes) {
    throw new SafetensorsError(
      `${where}: data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape ` +
        `${formatShape(dims)} ${dtype.toLowerCase()} needs ${bytes}`,
    );
  }
  if (end > dataLength) {
    throw new SafetensorsError(
      `${where}: data_offsets [${begin}, ${end}] run past the ${dataLength}-byte data section ` +
        `(file truncated or offsets corrupt)`,
    );
  }
  return { key, dtype, shape: dims, begin, end };
}

function checkTiling(name: string, tensors: Map<string, TensorInfo>, dataLength: number): void {
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  let prev: TensorInfo | undefined;
  for (const t of sorted) {
    if (t.begin < pos) {
      throw new SafetensorsError(
        `${name}: tensor "${t.key}" data_offsets [${t.begin}, ${t.end}] overlap tensor ` +
          `"${prev?.key}" [${prev?.begin}, ${prev?.end}]`,
      );
    }
    if (t.begin > pos) {
      throw new SafetensorsError(
        `${name}: gap of ${t.begin - pos} bytes before tensor "${t.key}" (data_offsets ` +
          `[${t.begin}, ${t.end}]); tensors must be contiguous`,
      );
    }
    pos = t.end;
    prev = t;
  }
  if (pos !== dataLength) {
    throw new SafetensorsError(
      `${name}: data section is ${dataLength} bytes but the tensors cover ${pos} ` +
        `(${dataLength - pos} trailing bytes)`,
    );
  }
}
