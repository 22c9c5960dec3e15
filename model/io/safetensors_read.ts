/**
 * Reading safetensors files. {@linkcode SafetensorsFile} reads and validates the header first and
 * then each tensor on demand (seek + read), so a large file is never held in memory whole;
 * {@linkcode readSafetensors} loads a chosen set of tensors at once, all of them or none.
 * F16 and BF16 are widened to f32; I32, I64, U8 and BOOL are returned as stored.
 * @module
 */
import { IoError, SafetensorsError } from "./errors.ts";
import type { HostTensor, TensorMap } from "./host_tensor.ts";
import { decodeTensor, type SafetensorsContents } from "./safetensors_decode.ts";
import { describeOsError } from "./_atomic.ts";
import {
  parseHeaderLength,
  parseSafetensorsHeader,
  type SafetensorsHeader,
  type TensorInfo,
} from "./safetensors_header.ts";

export { decodeSafetensors, decodeTensor, type SafetensorsContents } from "./safetensors_decode.ts";

function missingKeyError(name: string, key: string, header: SafetensorsHeader): SafetensorsError {
  const n = header.tensors.size;
  return new SafetensorsError(`${name}: no tensor "${key}" in the file (it has ${n} tensors)`);
}

/**
 * An open safetensors file whose header has been validated; tensors are read on demand.
 * Close it (or use `using`) when done.
 */
export class SafetensorsFile implements Disposable {
  readonly #file: Deno.FsFile;
  /** The path the file was opened from (used in error messages). */
  readonly path: string;
  /** The validated header. */
  readonly header: SafetensorsHeader;

  private constructor(path: string, file: Deno.FsFile, header: SafetensorsHeader) {
    this.path = path;
    this.#file = file;
    this.header = header;
  }

  /** Opens `path` and validates its header (reading only the header bytes). */
  static async open(path: string): Promise<SafetensorsFile> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (e) {
      throw new IoError(`${path}: cannot open: ${describeOsError(e)}`, { cause: e });
    }
    try {
      const size = (await file.stat()).size;
      const prefix = await readAt(path, file, 0, Math.min(8, size));
      const n = parseHeaderLength(path, prefix, size);
      const json = await readAt(path, file, 8, n);
      const header = parseSafetensorsHeader(path, json, size - 8 - n);
      return new SafetensorsFile(path, file, header);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Keys of all tensors, in header order. */
  keys(): string[] {
    return [...this.header.tensors.keys()];
  }

  /** The header entry of `key`, or undefined. */
  info(key: string): TensorInfo | undefined {
    return this.header.tensors.get(key);
  }

  /** The `__metadata__` map, or null. */
  get metadata(): Readonly<Record<string, string>> | null {
    return this.header.metadata;
  }

  /** Reads one tensor. Throws {@linkcode SafetensorsError} when the key is absent. */
  async get(key: string): Promise<HostTensor> {
    const info = this.header.tensors.get(key);
    if (!info) throw missingKeyError(this.path, key, this.header);
    const raw = await readAt(
      this.path,
      this.#file,
      this.header.dataStart + info.begin,
      info.end - info.begin,
    );
    return decodeTensor(this.path, info, raw);
  }

  /**
   * Reads the tensors named by `keys` (all of them when omitted). Either every requested tensor
   * is returned or an error is thrown; every key is checked before any data is read.
   */
  async load(keys?: Iterable<string>): Promise<TensorMap> {
    const wanted = keys ? [...keys] : this.keys();
    for (const k of wanted) {
      if (!this.header.tensors.has(k)) throw missingKeyError(this.path, k, this.header);
    }
    const out: TensorMap = new Map();
    for (const k of wanted) out.set(k, await this.get(k));
    return out;
  }

  /** Closes the file handle. */
  close(): void {
    this.#file.close();
  }

  /** Closes the file handle (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** Reads exactly `length` bytes at absolute `offset`, or throws a truncation error. */
async function readAt(
  path: string,
  file: Deno.FsFile,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  try {
    await file.seek(offset, Deno.SeekMode.Start);
    let done = 0;
    while (done < length) {
      const n = await file.read(buf.subarray(done));
      if (n === null || n === 0) {
        throw new SafetensorsError(
          `${path}: file ended at byte ${offset + done}, expected ${length} bytes from byte ` +
            `${offset} (truncated?)`,
        );
      }
      done += n;
    }
  } catch (e) {
    if (e instanceof IoError) throw e;
    throw new IoError(`${path}: read failed: ${describeOsError(e)}`, { cause: e });
  }
  return buf;
}

/**
 * Reads tensors from the safetensors file at `path`: all of them, or only `options.keys`. The
 * header is validated before any data is read; either every requested tensor is returned or an
 * error naming the file (and key) is thrown.
 */
export async function readSafetensors(
  path: string,
  options: { keys?: Iterable<string> } = {},
): Promise<SafetensorsContents> {
  using file = await SafetensorsFile.open(path);
  const tensors = await file.load(options.keys);
  return { tensors, metadata: file.metadata ? { ...file.metadata } : null };
}
