/**
 * Philox4x32-10 random numbers on the GPU, reproducible from a seed on every adapter: masks
 * for the forward process and the uniforms of the categorical draw.
 *
 * Stream layout: element i of a call is word i % 4 of Philox4x32-10 applied to the 128-bit
 * counter (i / 4, 0, offset_lo, offset_hi) under the key (seed_lo, seed_hi). The offset thus
 * names a stream of 2^34 values: calls with distinct offsets never share a value, whatever
 * their sizes, so a caller only has to use a new offset per call (a step counter will do).
 * @module
 */
import { type Gpu, grid1d, numel, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import lib from "./philox_lib.wgsl" with { type: "text" };
import src from "./philox.wgsl" with { type: "text" };

/**
 * WGSL of the generator (`philox4x32_10`, `philox_block`, `philox_unit`), for kernels that
 * draw their own randoms: prepend it to their source and use the same stream layout.
 */
export const philoxWgsl: string = lib;

/** A 64-bit unsigned value: a bigint, a safe non-negative integer, or `[lo, hi]` u32 halves. */
export type U64 = bigint | number | readonly [number, number];

const TWO32 = 2 ** 32;
const WG = 64;

/** Splits a {@linkcode U64} into `[lo, hi]` u32 halves; throws RangeError when out of range. */
export function splitU64(v: U64, what = "value"): [number, number] {
  if (typeof v === "bigint") {
    if (v < 0n || v >= 1n << 64n) throw new RangeError(`${what} ${v} is not a u64`);
    return [Number(v & 0xffffffffn), Number(v >> 32n)];
  }
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`${what} ${v} must be a safe integer ≥ 0 (use a bigint for 64 bits)`);
    }
    return [v % TWO32, Math.floor(v / TWO32)];
  }
  const [lo, hi] = v;
  for (const h of [lo, hi]) {
    if (!Number.isInteger(h) || h < 0 || h >= TWO32) {
      throw new RangeError(`${what} [${lo}, ${hi}]: each half must be an integer in [0, 2^32)`);
    }
  }
  return [lo, hi];
}

/** Where a draw comes from: the key and the stream. */
export interface PhiloxStream {
  /** The key, 64 bits. */
  seed: U64;
  /** The stream (high 64 bits of the counter); 0 by default. Use a new one for every call. */
  offset?: U64;
}

/** Options of {@linkcode philoxBits} and {@linkcode philoxUniform}. */
export interface PhiloxOptions extends PhiloxStream {
  /** Output tensor of the requested size (u32 for bits, f32 for uniforms). */
  out?: Tensor;
}

/** The uniform words shared by the Philox kernels: seed and offset halves. */
export function streamWords(opts: PhiloxStream): [number, number, number, number] {
  const [slo, shi] = splitU64(opts.seed, "seed");
  const [olo, ohi] = splitU64(opts.offset ?? 0, "offset");
  return [slo, shi, olo, ohi];
}

function generate(gpu: Gpu, shape: readonly number[], opts: PhiloxOptions, uniform: boolean) {
  const what = uniform ? "philoxUniform" : "philoxBits";
  const dtype = uniform ? "f32" : "u32";
  const count = numel(shape);
  if (count >= TWO32 - 4) throw new ShapeError(`${what}: ${count} values exceed one 2^32 stream`);
  const words = streamWords(opts);
  const out = opts.out ?? Tensor.empty(gpu, shape, dtype);
  out.expectDtype(dtype, `${what} out`);
  if (out.size !== count) {
    throw new ShapeError(`${what}: out holds ${out.size} values, ${count} requested`);
  }
  const kernel = gpu.kernel({
    name: "philox",
    code: lib + src,
    params: { WG, UNIFORM: uniform },
    bindings: ["write", "uniform"],
  });
  const u = new Uniforms().u32(count);
  for (const w of words) u.u32(w);
  gpu.dispatch(kernel, [out], u.bytes(), grid1d(Math.ceil(count / 4), WG));
  return out;
}

/** Random u32 words of the given shape from the Philox stream (seed, offset). */
export function philoxBits(gpu: Gpu, shape: readonly number[], opts: PhiloxOptions): Tensor {
  return generate(gpu, shape, opts, false);
}

/**
 * Uniform f32 values in [0, 1) of the given shape: the top 24 bits of each Philox word times
 * 2^−24, so every value is a multiple of 2^−24, 0 is possible and 1 is not.
 */
export function philoxUniform(gpu: Gpu, shape: readonly number[], opts: PhiloxOptions): Tensor {
  return generate(gpu, shape, opts, true);
}
