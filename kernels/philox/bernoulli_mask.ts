/**
 * Forward masking of the absorbing-state process (docs/design.md, "Forward masking";
 * `Diffusion.q_xt`): every token of x0 is replaced by the mask id with probability t, drawn from
 * the Philox stream, so a masked batch is reproducible from (seed, offset) on every adapter.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import { type PhiloxStream, philoxWgsl, streamWords } from "./philox.ts";
import src from "./bernoulli_mask.wgsl" with { type: "text" };

const WG = 64;

/** Options of {@linkcode bernoulliMask}. */
export interface BernoulliMaskOptions extends PhiloxStream {
  /** The id written at masked positions (the absorbing state m). */
  maskId: number;
  /**
   * Comparison: false (default) masks where `u ≤ t`, as `q_xt` does
   * (`torch.rand(...) <= p`); true masks where `u < t`, as the block redraw of
   * `_resample_q_xt` does. With 24-bit uniforms they differ only when t is a multiple of 2^−24.
   */
  strict?: boolean;
  /** Output [B, L] (i32); may alias x0. */
  out?: Tensor;
}

/**
 * Returns x_t with `x_t[b, l] = maskId` where `u[b, l] ≤ t[b, ⌊l / (L/K)⌋]`, else `x0[b, l]`.
 * `u` is exactly `philoxUniform(gpu, [B, L], {seed, offset})`, so callers and tests can
 * reproduce the draw. t may be per token ([B, L]), per block ([B, K], block size L / K) or
 * per sequence ([B, 1]).
 * @param x0 clean token ids [B, L] (i32)
 * @param t masking probabilities [B, K] (f32), K dividing L
 */
export function bernoulliMask(x0: Tensor, t: Tensor, opts: BernoulliMaskOptions): Tensor {
  const gpu: Gpu = x0.gpu;
  x0.expectDtype("i32", "bernoulliMask x0");
  t.expectDtype("f32", "bernoulliMask t");
  if (x0.shape.length !== 2) {
    throw new ShapeError(`bernoulliMask: x0 must be [B, L], got ${formatShape(x0.shape)}`);
  }
  const [batch, len] = x0.shape;
  const k = t.shape[1];
  if (t.shape.length !== 2 || t.shape[0] !== batch || !(k > 0) || len % k !== 0) {
    throw new ShapeError(
      `bernoulliMask: t ${formatShape(t.shape)} must be [B, K] with K dividing L for x0 ${
        formatShape(x0.shape)
      }`,
    );
  }
  if (!Number.isInteger(opts.maskId)) {
    throw new RangeError(`bernoulliMask: maskId must be an integer, got ${opts.maskId}`);
  }
  const out = opts.out ?? Tensor.empty(gpu, x0.shape, "i32");
  out.expectDtype("i32", "bernoulliMask out");
  out.expectShape(x0.shape, "bernoulliMask out");
  const kernel = gpu.kernel({
    name: "bernoulli_mask",
    code: philoxWgsl + src,
    params: { WG, STRICT: opts.strict ?? false },
    bindings: ["read", "read", "write", "uniform"],
  });
  const u = new Uniforms().u32(x0.size).u32(len).u32(k).u32(len / k).i32(opts.maskId);
  for (const w of streamWords(opts)) u.u32(w);
  gpu.dispatch(kernel, [x0, t, out], u.bytes(), grid1d(Math.ceil(x0.size / 4), WG));
  return out;
}
