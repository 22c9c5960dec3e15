/**
 * Rotary position embedding (docs/design.md, "Rotary") applied in place to the q and k slots of a
 * qkv tensor
 * `[B, S, 3d]`, with positions `posOffset + (s mod posPeriod)`: the 2L training pass uses
 * `posPeriod = L` (x_t token i and x0 token i share position i), KV-cached sampling
 * uses `posOffset = cache length`, and `rotaryShift` (offset δ with period 1, so every row gets
 * position δ) moves an already-rotated tensor by a fixed δ positions, e.g. δ = −b when a KV
 * window slides by one block (rotations compose: R(θ(p))·R(θ(δ)) = R(θ(p) + θ(δ)) ≈ R(θ(p + δ))).
 *
 * cos/sin come from a `RotaryTable` built on the host, not from WGSL `cos`/`sin`: θ reaches
 * ~1000 rad at position 1024, and WGSL only bounds the error of `sin`/`cos` on [−π, π] (to
 * 2⁻¹¹ absolute). The table follows the reference's f32 arithmetic for θ (inv_freq and the
 * product p · inv_freq rounded to f32, as in PyTorch) and then takes cos/sin of that f32 θ in
 * float64, rounded once to f32, so it matches PyTorch's f32 cos/sin to about one ulp.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import src from "./rotary.wgsl" with { type: "text" };

const WG = 256;
const f32 = Math.fround;

/** The rotary base of the reference: 10000. */
export const ROTARY_BASE = 10000;

/**
 * `inv_freq_j = 1 / base^(2j/D)` for j < D/2, each step rounded to f32 as PyTorch's
 * `1.0 / (base ** (torch.arange(0, D, 2).float() / D))` does.
 */
export function rotaryInvFreq(headDim: number, base = ROTARY_BASE): Float32Array {
  const out = new Float32Array(headDim / 2);
  for (let j = 0; j < out.length; j++) out[j] = f32(1 / f32(base ** f32((2 * j) / headDim)));
  return out;
}

/**
 * cos/sin of θ[p, j] = f32(p · inv_freq_j) for positions 0 … positions − 1, as a GPU table
 * `[positions, D/2, 2]` of (cos, sin) pairs. Build it once per model (it only depends on D and
 * the longest position) and dispose it with the model.
 */
export class RotaryTable implements Disposable {
  /** Head dimension D (even). */
  readonly headDim: number;
  /** Positions covered: every call needs |position| < positions. */
  readonly positions: number;
  /** The GPU table, f32 `[positions, D/2, 2]`. */
  readonly tensor: Tensor;

  private constructor(headDim: number, positions: number, tensor: Tensor) {
    this.headDim = headDim;
    this.positions = positions;
    this.tensor = tensor;
  }

  /**
   * Builds the table for head dimension `headDim` and positions `0 … positions − 1`.
   * @param gpu the runtime to upload to
   * @param headDim D, even
   * @param positions number of positions (e.g. the model length, or window + block size)
   * @param base rotary base, 10000 in the reference
   */
  static create(gpu: Gpu, headDim: number, positions: number, base = ROTARY_BASE): RotaryTable {
    if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) {
      throw new ShapeError(`RotaryTable: head dim must be an even integer ≥ 2, got ${headDim}`);
    }
    if (!Number.isInteger(positions) || positions < 1) {
      throw new ShapeError(`RotaryTable: positions must be an integer ≥ 1, got ${positions}`);
    }
    const half = headDim / 2;
    const inv = rotaryInvFreq(headDim, base);
    const data = new Float32Array(positions * half * 2);
    for (let p = 0; p < positions; p++) {
      for (let j = 0; j < half; j++) {
        const theta = f32(p * inv[j]);
        data[(p * half + j) * 2] = Math.cos(theta);
        data[(p * half + j) * 2 + 1] = Math.sin(theta);
      }
    }
    return new RotaryTable(headDim, positions, Tensor.from(gpu, data, [positions, half, 2]));
  }

  /** Releases the GPU table. */
  dispose(): void {
    this.tensor.dispose();
  }

  /** Releases the GPU table (for `using`). */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Options of `rotary`. */
export interface RotaryOptions {
  /** Added to every position; may be negative (a relative rotation). Default 0. */
  posOffset?: number;
  /** Sequence rows repeat positions with this period; default S, `Infinity` for no repeat. */
  posPeriod?: number;
}

/**
 * Rotates q and k of `qkv` in place and returns it. Row s of every batch gets position
 * `posOffset + (s mod posPeriod)`; every |position| must be below `table.positions`.
 * @param qkv f32 `[B, S, 3d]`, d a multiple of `table.headDim`
 * @param table cos/sin table for the head dimension
 * @param options position offset and period
 */
export function rotary(qkv: Tensor, table: RotaryTable, options: RotaryOptions = {}): Tensor {
  const gpu: Gpu = qkv.gpu;
  qkv.expectDtype("f32", "rotary qkv");
  const D = table.headDim;
  const [, seq, features] = qkv.shape;
  if (qkv.shape.length !== 3 || features % 3 !== 0 || (features / 3) % D !== 0) {
    throw new ShapeError(
      `rotary: qkv must be [B, S, 3d] with d a multiple of the head dim ${D}, got ${
        formatShape(qkv.shape)
      }`,
    );
  }
  const width = features / 3;
  const offset = options.posOffset ?? 0;
  const period = options.posPeriod ?? seq;
  if (!Number.isInteger(offset) || Math.abs(offset) >= 2 ** 31) {
    throw new ShapeError(`rotary: posOffset must be an integer of magnitude < 2³¹, got ${offset}`);
  }
  if (!(period === Infinity || (Number.isInteger(period) && period >= 1))) {
    throw new ShapeError(`rotary: posPeriod must be an integer ≥ 1 or Infinity, got ${period}`);
  }
  if (qkv.size === 0) return qkv;
  const distinct = Math.min(seq, period);
  const reach = Math.max(Math.abs(offset), Math.abs(offset + distinct - 1));
  if (reach >= table.positions) {
    throw new ShapeError(
      `rotary: positions ${offset} … ${offset + distinct - 1} need a table of more than ${reach} ` +
        `positions; this one has ${table.positions} (build a larger RotaryTable)`,
    );
  }
  const pairs = qkv.size / 3;
  const kernel = gpu.kernel({
    name: "rotary",
    code: src,
    params: { WG, INVERSE: false },
    bindings: ["uniform", "read", "write"],
  });
  // A period ≥ S never wraps; clamp it so Infinity (or any huge value) fits a u32.
  const u = new Uniforms().u32(pairs).u32(seq).u32(width).u32(D / 2)
    .u32(Math.min(period, seq)).i32(offset).u32(0).u32(0);
  gpu.dispatch(kernel, [table.tensor, qkv], u.bytes(), grid1d(pairs, WG));
  return qkv;
}

/**
 * Rotates q and k of an already-rotated `qkv` in place by a fixed `delta` positions (every row
 * moves from position p to p + delta; negative deltas allowed), and returns it. Same as
 * `rotary(qkv, table, { posOffset: delta, posPeriod: 1 })`. The result equals a direct rotation
 * to p + delta up to the f32 rounding of the angles (θ(p) + θ(δ) vs θ(p + δ), about
 * ulp(θ) ≈ 1e-7·θ rad).
 * @param qkv f32 `[B, S, 3d]` holding post-rotary q and k
 * @param table cos/sin table with more than |delta| positions
 * @param delta position shift
 */
export function rotaryShift(qkv: Tensor, table: RotaryTable, delta: number): Tensor {
  return rotary(qkv, table, { posOffset: delta, posPeriod: 1 });
}
