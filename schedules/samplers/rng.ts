/**
 * A seeded host random stream for the samplers: Philox4x32-10 (counter based, the same
 * generator the GPU kernels use), so a sampling run is reproducible from (seed, stream) and
 * independent of the machine. Two 32-bit words make one 53-bit uniform.
 * @module
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32 values (16-bit halves keep it exact). */
function mulhi32(a: number, b: number): number {
  const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

/** One Philox4x32-10 block for counter (c0, c1, c2, c3) under key (k0, k1), written to `out`. */
export function philoxBlock(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): void {
  c0 >>>= 0, c1 >>>= 0, c2 >>>= 0, c3 >>>= 0, k0 >>>= 0, k1 >>>= 0;
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0, n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0, c1 = lo1, c2 = n2, c3 = lo0;
  }
  out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/** The largest float32 below 1. */
const F32_BELOW_ONE = 1 - 2 ** -24;

/** The source of uniforms every sampler takes; `SamplerRng` is the seeded implementation. */
export interface UniformSource {
  /** A uniform in [0, 1). */
  next(): number;
}

/**
 * A Philox stream keyed by `seed` (up to 2^53) and a `stream` id: uniforms in [0, 1) with 53
 * random bits. Different streams of one seed are independent, which lets a caller give each
 * purpose (token draws, position choices, …) its own stream.
 */
export class SamplerRng implements UniformSource {
  /** The Philox key (a non-negative safe integer). */
  readonly seed: number;
  /** Stream id; streams of one seed are independent. */
  readonly stream: number;
  #counter = 0;
  #words = new Uint32Array(4);
  #used = 4;

  /** Opens stream `stream` of `seed`; throws RangeError on a seed that is not a non-negative safe integer. */
  constructor(seed: number, stream = 0) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`SamplerRng: seed must be a non-negative safe integer, got ${seed}`);
    }
    this.seed = seed;
    this.stream = stream >>> 0;
  }

  #word(): number {
    if (this.#used === 4) {
      const lo = this.seed % 2 ** 32, hi = Math.floor(this.seed / 2 ** 32);
      philoxBlock(this.#counter++, 0, this.stream, 0x5a3b1e, lo, hi, this.#words);
      this.#used = 0;
    }
    return this.#words[this.#used++];
  }

  /** A uniform in [0, 1) with 53 random bits. */
  next(): number {
    const a = this.#word() >>> 5, b = this.#word() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /**
   * `n` uniforms as float32 for a device-side draw, each < 1 after rounding to float32 (a
   * 53-bit uniform just below 1 would round up to 1).
   */
  uniforms(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.min(this.next(), F32_BELOW_ONE);
    return out;
  }

  /** An integer uniform in [0, n). */
  int(n: number): number {
    return Math.min(n - 1, Math.floor(this.next() * n));
  }

  /** An independent stream of the same seed. */
  fork(stream: number): SamplerRng {
    return new SamplerRng(this.seed, stream);
  }
}
