/**
 * Input embeddings of the DiT: the token embedding gather and the
 * sinusoidal timestep features of σ (docs/design.md, "adaLN conditioning") that feed the timestep
 * MLP.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import gatherSrc from "./embedding.wgsl" with { type: "text" };
import timestepSrc from "./timestep.wgsl" with { type: "text" };
import { rowChunks } from "../_row_chunks.ts";

const WG = 256;

/** Options of {@link embedding}. */
export interface EmbeddingOptions {
  /**
   * Largest storage binding to use, in bytes; defaults to the device's
   * `maxStorageBufferBindingSize`. Lower it only to exercise the row blocks in tests.
   */
  maxBindingBytes?: number;
}

/** Bits of the canonical f32 quiet NaN, written for out-of-range ids. */
const NAN_BITS = 0x7fc00000;

/**
 * Returns `out[..., :] = table[ids[...], :]`, shape `[...ids.shape, d]`. An id outside
 * `[0, V)` is never read from the table: its output row is NaN, so the error propagates
 * visibly (to the logits and the loss) instead of reading a neighbouring row.
 * @param ids i32 token ids of any shape (typically `[B, S]`)
 * @param table f32 embedding matrix `[V, d]`
 * A table larger than one storage binding (a 50258 × 768 f32 vocabulary is 154 MB; WebGPU's
 * default limit is 128 MiB) is bound in blocks of rows, one dispatch each.
 * @param out optional f32 output `[...ids.shape, d]`
 */
export function embedding(
  ids: Tensor,
  table: Tensor,
  out?: Tensor,
  opts: EmbeddingOptions = {},
): Tensor {
  const gpu: Gpu = ids.gpu;
  ids.expectDtype("i32", "embedding ids");
  table.expectDtype("f32", "embedding table");
  if (table.shape.length !== 2) {
    throw new ShapeError(`embedding: table must be [V, d], got ${formatShape(table.shape)}`);
  }
  const [vocab, width] = table.shape;
  const shape = [...ids.shape, width];
  const result = out ?? Tensor.empty(gpu, shape);
  result.expectDtype("f32", "embedding out");
  result.expectShape(shape, "embedding out");
  const total = ids.size * width;
  const kernel = gpu.kernel({
    name: "embedding",
    code: gatherSrc,
    params: { WG },
    bindings: ["uniform", "read", "read", "write"],
  });
  const chunks = rowChunks(
    gpu,
    table,
    width * 4,
    vocab,
    `embedding: table ${formatShape(table.shape)}`,
    opts.maxBindingBytes,
  );
  chunks.forEach((c, i) => {
    const u = new Uniforms().u32(total).u32(width).u32(vocab).u32(NAN_BITS)
      .u32(c.row0).u32(c.rows).u32(i === 0 ? 1 : 0).u32(0);
    gpu.dispatch(kernel, [ids, c.binding, result], u.bytes(), grid1d(total, WG));
  });
  return result;
}

/** Width of the sinusoidal timestep features (256 = 128 cosines + 128 sines). */
export const TIMESTEP_FEATURES = 256;

const f32 = Math.fround;

/**
 * ω_j = exp(−ln(10000)·j/half) with the reference's f32 steps: PyTorch multiplies the f32
 * `arange` by −ln(10000) (as an f32 scalar), divides by `half` and takes an f32 `exp`.
 */
export function timestepFrequencies(half = TIMESTEP_FEATURES / 2, maxPeriod = 10000): Float32Array {
  const out = new Float32Array(half);
  const c = f32(-Math.log(maxPeriod));
  for (let j = 0; j < half; j++) out[j] = f32(Math.exp(f32(f32(c * j) / half)));
  return out;
}

/** `const OMEGA = array<f32, n>(…)` with each value bit-exact (no decimal round trip). */
function omegaWgsl(omega: Float32Array): string {
  const bits = new Uint32Array(omega.buffer, omega.byteOffset, omega.length);
  const items = Array.from(bits, (b) => `bitcast<f32>(0x${b.toString(16)}u)`).join(", ");
  return `const OMEGA = array<f32, ${omega.length}>(${items});\n`;
}

const OMEGA_WGSL = omegaWgsl(timestepFrequencies());

/**
 * Sinusoidal features of σ: `[cos(σ·ω_0) … cos(σ·ω_127), sin(σ·ω_0) … sin(σ·ω_127)]` per
 * batch row (cosines first), input of the timestep MLP. The reference feeds σ, not t.
 * @param sigma f32 `[B]`
 * @param out optional f32 `[B, 256]`
 */
export function timestepEmbedding(sigma: Tensor, out?: Tensor): Tensor {
  const gpu: Gpu = sigma.gpu;
  sigma.expectDtype("f32", "timestepEmbedding sigma");
  if (sigma.shape.length !== 1) {
    throw new ShapeError(`timestepEmbedding: sigma must be [B], got ${formatShape(sigma.shape)}`);
  }
  const shape = [sigma.shape[0], TIMESTEP_FEATURES];
  const result = out ?? Tensor.empty(gpu, shape);
  result.expectDtype("f32", "timestepEmbedding out");
  result.expectShape(shape, "timestepEmbedding out");
  const kernel = gpu.kernel({
    name: "timestep_embedding",
    code: OMEGA_WGSL + timestepSrc,
    params: { WG, HALF: TIMESTEP_FEATURES / 2 },
    bindings: ["uniform", "read", "write"],
  });
  const total = result.size;
  gpu.dispatch(kernel, [sigma, result], new Uniforms().u32(total).bytes(), grid1d(total, WG));
  return result;
}
