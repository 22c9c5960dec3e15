/**
 * Inverted dropout (`Dropout(r)` on the attention and MLP branches,
 * p = `model.dropout`, training only) with the keep mask drawn from the Philox stream
 * (seed, offset), so the backward recomputes the same mask instead of storing it.
 *
 * `keep_i = (u_i ≥ p)` where `u_i` is element i of `philoxUniform(gpu, shape, {seed, offset})`
 * (24-bit uniforms, compared with p rounded to f32); kept values are scaled by `1/(1 − p)`.
 * Use a fresh offset for every dropout site and step, and the same one in its backward.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import { type PhiloxStream, philoxWgsl, streamWords } from "../philox/philox.ts";
import src from "./dropout.wgsl" with { type: "text" };

const WG = 64;

/** Options of {@linkcode dropout} and {@linkcode dropoutBackward}. */
export interface DropoutOptions extends PhiloxStream {
  /** Drop probability in [0, 1]. 0 is a copy (nothing at all in place); 1 gives zeros. */
  p: number;
  /** Output of the input's size (f32). It may be the input itself (in place). */
  out?: Tensor;
}

function run(x: Tensor, opts: DropoutOptions, what: string): Tensor {
  const gpu: Gpu = x.gpu;
  x.expectDtype("f32", `${what} x`);
  const { p } = opts;
  if (!(p >= 0 && p <= 1)) throw new RangeError(`${what}: p must be in [0, 1], got ${p}`);
  if (x.size >= 2 ** 32 - 4) throw new ShapeError(`${what}: ${x.size} values exceed one stream`);
  const words = streamWords(opts); // validates seed and offset even when p = 0
  const out = opts.out ?? Tensor.empty(gpu, x.shape);
  out.expectDtype("f32", `${what} out`);
  if (out.size !== x.size) {
    throw new ShapeError(
      `${what}: out ${formatShape(out.shape)} does not match ${formatShape(x.shape)}`,
    );
  }
  const inPlace = out.buffer === x.buffer && out.offset === x.offset;
  if (!inPlace && out.buffer === x.buffer) {
    throw new ShapeError(`${what}: out may be the input itself but must not overlap part of it`);
  }
  if (p === 0) {
    // Every u ≥ 0 and the scale is exactly 1: the op is the identity.
    if (!inPlace) gpu.copy(x.buffer, x.offset, out.buffer, out.offset, x.paddedBytes);
    return out;
  }
  const kernel = gpu.kernel({
    name: "dropout",
    code: philoxWgsl + src,
    params: { WG },
    bindings: inPlace ? ["write", "uniform"] : ["read", "uniform", "write"],
    entry: inPlace ? "main_inplace" : "main",
  });
  // p = 1 keeps nothing (no u reaches 1), so the scale is never used; 0 avoids an infinity.
  const u = new Uniforms().u32(x.size).f32(p).f32(p < 1 ? 1 / (1 - p) : 0);
  for (const w of words) u.u32(w);
  gpu.dispatch(kernel, inPlace ? [x] : [x, out], u.bytes(), grid1d(Math.ceil(x.size / 4), WG));
  return out;
}

/**
 * Returns `x ⊙ keep / (1 − p)` with the keep mask of the stream (seed, offset).
 * @param x activations of any shape (f32)
 */
export function dropout(x: Tensor, opts: DropoutOptions): Tensor {
  return run(x, opts, "dropout");
}

/**
 * Returns `dx = dy ⊙ keep / (1 − p)`: the same mask as the forward with the same (seed, offset,
 * p), recomputed from the stream.
 * @param dy gradient of the dropout output (f32)
 */
export function dropoutBackward(dy: Tensor, opts: DropoutOptions): Tensor {
  return run(dy, opts, "dropoutBackward");
}
