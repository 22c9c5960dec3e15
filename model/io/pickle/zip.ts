/**
 * The zip container of `torch.save` files: reading the central directory (zip64 included) of a
 * file already in memory, with every offset and size checked, and writing an uncompressed
 * archive whose records start on 64-byte boundaries, as torch's own writer lays them out.
 * @module
 */
import { inflateSync } from "fflate";
import { crc32 } from "../_crc32.ts";
import { CheckpointError } from "../errors.ts";

/** One record of a zip archive. */
export interface ZipEntry {
  /** Path inside the archive. */
  readonly name: string;
  /** Compression method (0 stored, 8 deflate). */
  readonly method: number;
  /** Compressed size in bytes. */
  readonly compressedSize: number;
  /** Uncompressed size in bytes. */
  readonly size: number;
  /** Offset of the local header. */
  readonly headerOffset: number;
  /** CRC-32 of the uncompressed bytes. */
  readonly crc: number;
}

const MAX_ENTRIES = 1_000_000;

/**
 * The records of the zip archive `bytes`, by name. `name` labels errors. Throws
 * {@linkcode CheckpointError} when the archive is truncated or its directory is inconsistent.
 */
export function readZipDirectory(bytes: Uint8Array, name: string): Map<string, ZipEntry> {
  const fail = (msg: string): never => {
    throw new CheckpointError(`${name}: ${msg}`);
  };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length;
  let eocd = -1;
  for (let i = n - 22; i >= Math.max(0, n - 22 - 65535); i--) {
    if (v.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    fail(
      `not a zip archive, or truncated (no end-of-directory record); a torch checkpoint is a zip`,
    );
  }
  let count = v.getUint16(eocd + 10, true);
  let dirSize = v.getUint32(eocd + 12, true);
  let dirOffset = v.getUint32(eocd + 16, true);
  if (eocd >= 20 && v.getUint32(eocd - 20, true) === 0x07064b50) {
    const z = safe(v.getBigUint64(eocd - 12, true), fail);
    if (z + 56 > n || v.getUint32(z, true) !== 0x06064b50) fail(`corrupt zip64 end record`);
    count = safe(v.getBigUint64(z + 32, true), fail);
    dirSize = safe(v.getBigUint64(z + 40, true), fail);
    dirOffset = safe(v.getBigUint64(z + 48, true), fail);
  }
  if (count > MAX_ENTRIES) fail(`zip lists ${count} records, more than ${MAX_ENTRIES}`);
  if (dirOffset + dirSize > n) fail(`truncated: the zip directory lies past the end of the file`);
  const out = new Map<string, ZipEntry>();
  let p = dirOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > n || v.getUint32(p, true) !== 0x02014b50) fail(`corrupt zip directory entry ${i}`);
    const method = v.getUint16(p + 10, true);
    const crc = v.getUint32(p + 16, true);
    let compressedSize = v.getUint32(p + 20, true);
    let size = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    let headerOffset = v.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > n) fail(`truncated zip directory entry ${i}`);
    const entryName = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64: the sizes and offset that read 0xffffffff follow in the 0x0001 extra field.
    let e = p + 46 + nameLen;
    const end = e + extraLen;
    while (e + 4 <= end) {
      const id = v.getUint16(e, true), len = v.getUint16(e + 2, true);
      if (id === 1) {
        let q = e + 4;
        const next = () => {
          if (q + 8 > e + 4 + len) fail(`corrupt zip64 field of "${entryName}"`);
          const x = safe(v.getBigUint64(q, true), fail);
          q += 8;
          return x;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (headerOffset === 0xffffffff) headerOffset = next();
      }
      e += 4 + len;
    }
    if (out.has(entryName)) fail(`zip holds "${entryName}" twice`);
    out.set(entryName, { name: entryName, method, compressedSize, size, headerOffset, crc });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

function safe(b: bigint, fail: (m: string) => never): number {
  if (b > BigInt(Number.MAX_SAFE_INTEGER)) fail(`zip offset ${b} is too large`);
  return Number(b);
}

/**
 * The bytes of `entry` (a view into `bytes` when stored, inflated when deflated), at most
 * `maxSize` bytes, their CRC-32 checked. Throws {@linkcode CheckpointError} when the record is
 * truncated or corrupt.
 */
export function readZipEntry(
  bytes: Uint8Array,
  entry: ZipEntry,
  name: string,
  maxSize = Number.MAX_SAFE_INTEGER,
): Uint8Array {
  const fail = (msg: string): never => {
    throw new CheckpointError(`${name}: "${entry.name}": ${msg}`);
  };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = entry.headerOffset;
  if (h + 30 > bytes.length || v.getUint32(h, true) !== 0x04034b50) {
    fail(`local header missing or truncated`);
  }
  const start = h + 30 + v.getUint16(h + 26, true) + v.getUint16(h + 28, true);
  if (start + entry.compressedSize > bytes.length) {
    fail(`truncated (record runs past the end of the file)`);
  }
  if (entry.size > maxSize) fail(`is ${entry.size} bytes, more than the ${maxSize} allowed`);
  const data = bytes.subarray(start, start + entry.compressedSize);
  const checked = (b: Uint8Array): Uint8Array => {
    if (crc32(b) !== entry.crc) fail(`CRC-32 mismatch (the file is corrupt)`);
    return b;
  };
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) fail(`stored record with two different sizes`);
    return checked(data);
  }
  if (entry.method === 8) {
    let out: Uint8Array;
    try {
      out = inflateSync(data, { out: new Uint8Array(entry.size) });
    } catch (e) {
      return fail(`cannot inflate: ${(e as Error).message}`);
    }
    if (out.length !== entry.size) {
      fail(`inflates to ${out.length} bytes, directory says ${entry.size}`);
    }
    return checked(out);
  }
  return fail(`compression method ${entry.method} is not supported (stored or deflate only)`);
}

/**
 * An uncompressed zip of `records` (name → bytes, in order), each record's data aligned to 64
 * bytes by padding the local header's extra field, as `torch.save` does. Zip64 records are
 * written when the archive passes 4 GiB.
 */
export function writeZip(records: readonly [string, Uint8Array][]): Uint8Array[] {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const big = records.reduce((s, [, d]) => s + d.length + 200, 0) >= 0xffffffff;
  for (const [name, data] of records) {
    const nameBytes = enc.encode(name);
    const crc = crc32(data);
    const zip64Len = big ? 20 : 0;
    const fixed = offset + 30 + nameBytes.length + zip64Len + 4;
    const pad = (64 - (fixed % 64)) % 64;
    const local = new Uint8Array(30 + nameBytes.length + zip64Len + 4 + pad);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, big ? 45 : 20, true);
    lv.setUint16(8, 0, true); // stored
    lv.setUint16(12, 0x21, true); // 1980-01-01
    lv.setUint32(14, crc, true);
    lv.setUint32(18, big ? 0xffffffff : data.length, true);
    lv.setUint32(22, big ? 0xffffffff : data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, zip64Len + 4 + pad, true);
    local.set(nameBytes, 30);
    let e = 30 + nameBytes.length;
    if (big) {
      lv.setUint16(e, 1, true);
      lv.setUint16(e + 2, 16, true);
      lv.setBigUint64(e + 4, BigInt(data.length), true);
      lv.setBigUint64(e + 12, BigInt(data.length), true);
      e += 20;
    }
    lv.setUint16(e, 0x4246, true); // "FB": torch's padding field
    lv.setUint16(e + 2, pad, true);
    const cExtra = big ? 28 : 0;
    const c = new Uint8Array(46 + nameBytes.length + cExtra);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, big ? 45 : 20, true);
    cv.setUint16(6, big ? 45 : 20, true);
    cv.setUint16(14, 0x21, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, big ? 0xffffffff : data.length, true);
    cv.setUint32(24, big ? 0xffffffff : data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint16(30, cExtra, true);
    cv.setUint32(42, big ? 0xffffffff : offset, true);
    c.set(nameBytes, 46);
    if (big) {
      const q = 46 + nameBytes.length;
      cv.setUint16(q, 1, true);
      cv.setUint16(q + 2, 24, true);
      cv.setBigUint64(q + 4, BigInt(data.length), true);
      cv.setBigUint64(q + 12, BigInt(data.length), true);
      cv.setBigUint64(q + 20, BigInt(offset), true);
    }
    parts.push(local, data);
    central.push(c);
    offset += local.length + data.length;
  }
  const dirOffset = offset;
  const dirSize = central.reduce((s, c) => s + c.length, 0);
  parts.push(...central);
  if (big) {
    const z = new Uint8Array(56 + 20);
    const zv = new DataView(z.buffer);
    zv.setUint32(0, 0x06064b50, true);
    zv.setBigUint64(4, 44n, true);
    zv.setUint16(12, 45, true);
    zv.setUint16(14, 45, true);
    zv.setBigUint64(24, BigInt(records.length), true);
    zv.setBigUint64(32, BigInt(records.length), true);
    zv.setBigUint64(40, BigInt(dirSize), true);
    zv.setBigUint64(48, BigInt(dirOffset), true);
    zv.setUint32(56, 0x07064b50, true);
    zv.setBigUint64(64, BigInt(dirOffset + dirSize), true);
    zv.setUint32(72, 1, true);
    parts.push(z);
  }
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, big ? 0xffff : records.length, true);
  ev.setUint16(10, big ? 0xffff : records.length, true);
  ev.setUint32(12, big ? 0xffffffff : dirSize, true);
  ev.setUint32(16, big ? 0xffffffff : dirOffset, true);
  parts.push(end);
  return parts;
}
