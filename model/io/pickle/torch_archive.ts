/**
 * `torch.save` files: a zip whose `<prefix>/data.pkl` is a pickle that names tensor storages by
 * persistent id, each storage being the record `<prefix>/data/<key>`. Reading never runs the
 * pickle (see `unpickle.ts`); tensors are materialised on demand with every view checked against
 * its storage. Writing produces what `torch.load(path, weights_only=True)` accepts: plain
 * tensors, dicts, `collections.OrderedDict`, lists, ints, floats, strings, booleans and None.
 * @module
 */
import { decodeBfloat16, decodeHalf } from "@blockdiff/core";
import { CheckpointError } from "../errors.ts";
import type { HostTensor } from "../host_tensor.ts";
import { type TorchStorage, TorchTensor, unpickle, type UnpickleLimits } from "./unpickle.ts";
import { readZipDirectory, readZipEntry, writeZip, type ZipEntry } from "./zip.ts";

/** A `torch.save` archive held in memory, its pickle already read. */
export interface TorchArchive {
  /** Labels errors (the file path). */
  readonly name: string;
  /** The unpickled root object. */
  readonly root: unknown;
  /** Materialises one tensor as a {@linkcode HostTensor} (floats widened to f32). */
  tensor(t: TorchTensor, label: string): HostTensor;
}

/**
 * Reads a `torch.save` zip from `bytes` (`name` labels errors): the pickle is interpreted
 * without running code and storages are looked up lazily. Throws {@linkcode CheckpointError}.
 */
export function readTorchArchive(
  bytes: Uint8Array,
  name: string,
  limits: UnpickleLimits = {},
): TorchArchive {
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) {
    throw new CheckpointError(
      `${name}: is a legacy (pre-1.6, non-zip) torch file; re-save it with a current torch.save`,
    );
  }
  const dir = readZipDirectory(bytes, name);
  let prefix: string | null = null;
  for (const k of dir.keys()) {
    const m = /^([^/]+)\/data\.pkl$/.exec(k);
    if (m) {
      prefix = m[1];
      break;
    }
  }
  if (prefix === null) throw new CheckpointError(`${name}: zip has no <archive>/data.pkl record`);
  const order = dir.get(`${prefix}/byteorder`);
  if (order && new TextDecoder().decode(readZipEntry(bytes, order, name, 16)).trim() !== "little") {
    throw new CheckpointError(
      `${name}: was saved on a big-endian machine; only little-endian is read`,
    );
  }
  const pklEntry = dir.get(`${prefix}/data.pkl`)!;
  const pkl = readZipEntry(bytes, pklEntry, name, limits.maxBytes ?? 256 * 2 ** 20);
  const root = unpickle(pkl, { ...limits, name: `${name}: ${prefix}/data.pkl` });
  const cache = new Map<string, Uint8Array>();
  const storageBytes = (s: TorchStorage, label: string): Uint8Array => {
    let b = cache.get(s.key);
    if (!b) {
      const entry: ZipEntry | undefined = dir.get(`${prefix}/data/${s.key}`);
      if (!entry) {
        throw new CheckpointError(
          `${name}: tensor "${label}" refers to storage ${s.key}, which the zip does not hold (truncated or corrupt file)`,
        );
      }
      b = readZipEntry(bytes, entry, name);
      cache.set(s.key, b);
    }
    if (b.length < s.numel * s.elementBytes) {
      throw new CheckpointError(
        `${name}: storage ${s.key} has ${b.length} bytes, fewer than its ${s.numel} ${s.dtype} elements need`,
      );
    }
    return b;
  };
  return {
    name,
    root,
    tensor: (t, label) =>
      materialize(t, storageBytes(t.storage, label), `${name}: tensor "${label}"`),
  };
}

/** Copies the (possibly strided, offset) view `t` out of its storage bytes. */
function materialize(t: TorchTensor, bytes: Uint8Array, label: string): HostTensor {
  const { shape, stride, offset, storage } = t;
  let numel = 1, last = offset;
  for (let i = 0; i < shape.length; i++) {
    numel *= shape[i];
    if (shape[i] > 0) last += (shape[i] - 1) * stride[i];
  }
  if (!Number.isSafeInteger(numel) || !Number.isSafeInteger(last)) {
    throw new CheckpointError(`${label}: shape too large`);
  }
  if (numel > 0 && last >= storage.numel) {
    throw new CheckpointError(
      `${label}: view (offset ${offset}, size [${shape}], stride [${stride}]) reaches element ${last} of a ${storage.numel}-element storage`,
    );
  }
  let contiguous = true;
  for (let i = shape.length - 1, s = 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== s) contiguous = false;
    s *= shape[i];
  }
  const eb = storage.elementBytes;
  // A contiguous view is one copy of its byte range; a strided one is gathered element by
  // element from the whole storage.
  const src = contiguous
    ? bytes.slice(offset * eb, (offset + numel) * eb).buffer
    : bytes.slice(0, storage.numel * eb).buffer;
  const take = <T extends { [i: number]: number | bigint }>(from: T, to: () => T): T => {
    if (contiguous) return from;
    const out = to();
    const counter = new Array(shape.length).fill(0);
    let at = offset;
    for (let j = 0; j < numel; j++) {
      out[j] = from[at];
      for (let d = shape.length - 1; d >= 0; d--) {
        counter[d]++;
        at += stride[d];
        if (counter[d] < shape[d]) break;
        at -= stride[d] * shape[d];
        counter[d] = 0;
      }
    }
    return out;
  };
  const dims = [...shape];
  const f32 = (data: Float32Array): HostTensor => ({ dtype: "f32", shape: dims, data });
  const i32 = (data: Int32Array): HostTensor => ({ dtype: "i32", shape: dims, data });
  switch (storage.dtype) {
    case "float32":
      return f32(take(new Float32Array(src), () => new Float32Array(numel)));
    case "float64":
      return f32(Float32Array.from(take(new Float64Array(src), () => new Float64Array(numel))));
    case "float16":
      return f32(decodeHalf(take(new Uint16Array(src), () => new Uint16Array(numel))));
    case "bfloat16":
      return f32(decodeBfloat16(take(new Uint16Array(src), () => new Uint16Array(numel))));
    case "int64": {
      const data = take(new BigInt64Array(src), () => new BigInt64Array(numel));
      return { dtype: "i64", shape: dims, data };
    }
    case "int32":
      return i32(take(new Int32Array(src), () => new Int32Array(numel)));
    case "int16":
      return i32(Int32Array.from(take(new Int16Array(src), () => new Int16Array(numel))));
    case "int8":
      return i32(Int32Array.from(take(new Int8Array(src), () => new Int8Array(numel))));
    case "uint8":
      return {
        dtype: "u8",
        shape: dims,
        data: take(new Uint8Array(src), () => new Uint8Array(numel)),
      };
    case "bool":
      return {
        dtype: "bool",
        shape: dims,
        data: take(new Uint8Array(src), () => new Uint8Array(numel)),
      };
  }
}

/** A Python float in a value for {@linkcode encodeTorchSave} (JS integers are written as ints). */
export class PyFloat {
  /** Marks `value` as a Python float. */
  constructor(readonly value: number) {}
}

/**
 * What {@linkcode encodeTorchSave} writes: None, bool, int (an integer number or bigint), float
 * ({@linkcode PyFloat}, or a non-integer number), str, list, dict (a plain object), OrderedDict (a
 * `Map` with string keys) and tensors ({@linkcode HostTensor}).
 */
export type TorchSaveValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | PyFloat
  | HostTensor
  | TorchSaveValue[]
  | Map<string, TorchSaveValue>
  | { [key: string]: TorchSaveValue };

const STORAGE_OF = {
  f32: ["FloatStorage", 4],
  i32: ["IntStorage", 4],
  i64: ["LongStorage", 8],
  u8: ["ByteStorage", 1],
  bool: ["BoolStorage", 1],
} as const;

function isHostTensor(v: unknown): v is HostTensor {
  return typeof v === "object" && v !== null && "dtype" in v && "shape" in v && "data" in v &&
    ArrayBuffer.isView((v as HostTensor).data);
}

/** Pickle protocol 2 writer of {@linkcode TorchSaveValue}s; collects tensor storages. */
class PickleWriter {
  private chunks: number[] = [];
  readonly storages: Uint8Array[] = [];
  private enc = new TextEncoder();

  bytes(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
  private op(...b: number[]) {
    for (const x of b) this.chunks.push(x);
  }
  private raw(b: Uint8Array) {
    for (const x of b) this.chunks.push(x);
  }
  private u32(n: number) {
    this.op(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  }
  private str(s: string) {
    const b = this.enc.encode(s);
    this.op(0x58); // BINUNICODE
    this.u32(b.length);
    this.raw(b);
  }
  private global(module: string, name: string) {
    this.op(0x63);
    this.raw(this.enc.encode(`${module}\n${name}\n`));
  }
  private int(v: number | bigint) {
    if (typeof v === "number" && v >= 0 && v < 256) this.op(0x4b, v);
    else if (typeof v === "number" && v >= -(2 ** 31) && v < 2 ** 31) {
      this.op(0x4a);
      this.u32(v >>> 0);
    } else {
      // LONG1: little-endian two's complement.
      let b = BigInt(v);
      const out: number[] = [];
      for (let i = 0; i < 8; i++) {
        out.push(Number(b & 0xffn));
        b >>= 8n;
      }
      this.op(0x8a, 8, ...out);
    }
  }
  private float(v: number) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v, false);
    this.op(0x47);
    this.raw(b);
  }
  private tensor(t: HostTensor) {
    const kind = STORAGE_OF[t.dtype];
    const data = t.data;
    // A view, not a copy: the archive is written before the caller can change the tensors.
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const key = String(this.storages.length);
    this.storages.push(bytes);
    const numel = data.length;
    const stride: number[] = [];
    for (let i = t.shape.length - 1, s = 1; i >= 0; i--) {
      stride[i] = s;
      s *= t.shape[i];
    }
    this.global("torch._utils", "_rebuild_tensor_v2");
    this.op(0x28); // MARK (args)
    this.op(0x28); // MARK (persistent id)
    this.str("storage");
    this.global("torch", kind[0]);
    this.str(key);
    this.str("cpu");
    this.int(numel);
    this.op(0x74, 0x51); // TUPLE BINPERSID
    this.int(0);
    this.op(0x28);
    for (const d of t.shape) this.int(d);
    this.op(0x74, 0x28);
    for (const s of stride) this.int(s);
    this.op(0x74, 0x89); // TUPLE NEWFALSE (requires_grad)
    this.global("collections", "OrderedDict");
    this.op(0x29, 0x52); // EMPTY_TUPLE REDUCE (backward hooks)
    this.op(0x74, 0x52); // TUPLE REDUCE
  }
  value(v: TorchSaveValue, depth = 0): void {
    if (depth > 64) throw new CheckpointError(`value nests deeper than 64 levels`);
    if (v === null) this.op(0x4e);
    else if (v === true) this.op(0x88);
    else if (v === false) this.op(0x89);
    else if (typeof v === "bigint") this.int(v);
    else if (typeof v === "number") Number.isInteger(v) ? this.int(v) : this.float(v);
    else if (v instanceof PyFloat) this.float(v.value);
    else if (typeof v === "string") this.str(v);
    else if (Array.isArray(v)) {
      this.op(0x5d, 0x28);
      for (const x of v) this.value(x, depth + 1);
      this.op(0x65);
    } else if (isHostTensor(v)) this.tensor(v);
    else if (v instanceof Map) {
      this.global("collections", "OrderedDict");
      this.op(0x29, 0x52, 0x28);
      for (const [k, x] of v) {
        this.str(k);
        this.value(x, depth + 1);
      }
      this.op(0x75);
    } else {
      this.op(0x7d, 0x28);
      for (const [k, x] of Object.entries(v)) {
        this.str(k);
        this.value(x, depth + 1);
      }
      this.op(0x75);
    }
  }
}

/**
 * Encodes `value` as a `torch.save` zip (`archive/data.pkl`, `archive/byteorder`,
 * `archive/data/<n>`, `archive/version`), returned as chunks to write in order.
 */
export function encodeTorchSave(value: TorchSaveValue): Uint8Array[] {
  const w = new PickleWriter();
  w.value(value);
  // PROTO 2 … STOP
  const body = w.bytes();
  const pkl = new Uint8Array(body.length + 3);
  pkl.set([0x80, 2]);
  pkl.set(body, 2);
  pkl[pkl.length - 1] = 0x2e;
  const enc = new TextEncoder();
  const records: [string, Uint8Array][] = [
    ["archive/data.pkl", pkl],
    ["archive/byteorder", enc.encode("little")],
    ...w.storages.map((b, i): [string, Uint8Array] => [`archive/data/${i}`, b]),
    ["archive/version", enc.encode("3\n")],
  ];
  return writeZip(records);
}

export { TorchTensor };
