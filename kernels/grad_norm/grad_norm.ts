/**
 * The global gradient L2 norm over many tensors and the clip factor of
 * `torch.nn.utils.clip_grad_norm_` (max norm 1.0), computed without a readback: each
 * gradient writes its partial sums of squares into its own slots of one small buffer, and a
 * finalize dispatch writes `[norm, clip]` with `clip = min(1, maxNorm / (norm + 1e-6))` into a
 * 2-element tensor that `adamw` reads. No atomics, so the result is bit-reproducible.
 *
 * `norm` is also the value to log; a non-finite norm (an inf or NaN gradient) gives a
 * meaningless clip factor, as in PyTorch with `error_if_nonfinite=False`: check it when the
 * norm is read back for logging.
 * @module
 */
import { type Gpu, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import src from "./grad_norm.wgsl" with { type: "text" };

/** Lanes per workgroup: a power of two (tree reduction). */
const WG = 256;
/** Elements per lane below which a tensor gets fewer workgroups (slots). */
const ITEMS_PER_LANE = 16;
/** Most slots (workgroups) one tensor takes: the finalize then reads few values per lane. */
const MAX_SLOTS = 64;

/** How many partial-sum slots a gradient of `size` elements writes (≥ 1). */
export function gradNormSlots(size: number): number {
  return Math.min(MAX_SLOTS, Math.max(1, Math.ceil(size / (WG * ITEMS_PER_LANE))));
}

function kernel(gpu: Gpu, entry: "partial" | "finalize") {
  return gpu.kernel({
    name: "grad_norm",
    code: src,
    params: { WG },
    bindings: ["uniform", "read", "write"],
    entry,
  });
}

/**
 * Records `partials[slot + g] = Σ x²` over workgroup g's share of `grad`, for
 * g < {@linkcode gradNormSlots}(grad.size), and returns the next free slot.
 * @param grad a gradient of any shape (f32)
 * @param partials f32 buffer of slots, shared by all the gradients of a step
 */
export function sumOfSquares(grad: Tensor, partials: Tensor, slot: number): number {
  grad.expectDtype("f32", "sumOfSquares grad");
  partials.expectDtype("f32", "sumOfSquares partials");
  const groups = gradNormSlots(grad.size);
  if (!Number.isInteger(slot) || slot < 0 || slot + groups > partials.size) {
    throw new ShapeError(
      `sumOfSquares: slots ${slot}..${slot + groups} do not fit partials of ${partials.size}`,
    );
  }
  const u = new Uniforms().u32(grad.size).u32(groups).u32(slot).f32(0);
  grad.gpu.dispatch(kernel(grad.gpu, "partial"), [grad, partials], u.bytes(), [groups]);
  return slot + groups;
}

/** Options of {@linkcode gradNormFinalize} and {@linkcode gradNorm}. */
export interface GradNormOptions {
  /** The clipping threshold (> 0; Infinity computes the norm and a factor of 1). */
  maxNorm: number;
  /** Output `[norm, clip]` (f32, 2 elements). */
  out?: Tensor;
}

/**
 * Records the finalize: sums the first `count` slots of `partials` and writes
 * `out = [√Σ, min(1, maxNorm / (√Σ + 1e-6))]`.
 */
export function gradNormFinalize(partials: Tensor, count: number, opts: GradNormOptions): Tensor {
  const gpu: Gpu = partials.gpu;
  partials.expectDtype("f32", "gradNormFinalize partials");
  if (!Number.isInteger(count) || count < 0 || count > partials.size) {
    throw new ShapeError(`gradNormFinalize: ${count} slots of a ${partials.size}-slot buffer`);
  }
  if (!(opts.maxNorm > 0)) {
    throw new RangeError(`gradNorm: maxNorm must be > 0, got ${opts.maxNorm}`);
  }
  const out = opts.out ?? Tensor.empty(gpu, [2]);
  out.expectDtype("f32", "gradNorm out");
  out.expectShape([2], "gradNorm out");
  const u = new Uniforms().u32(count).u32(1).u32(0).f32(opts.maxNorm);
  gpu.dispatch(kernel(gpu, "finalize"), [partials, out], u.bytes(), [1]);
  return out;
}

/**
 * Records the global L2 norm of all `grads` and the clip factor: returns `[norm, clip]` (f32,
 * shape [2]) for `adamw`'s `clip` option. The partial-sum buffer is a pooled temporary.
 * @param grads the gradients of every parameter (f32, any shapes)
 */
export function gradNorm(grads: readonly Tensor[], opts: GradNormOptions): Tensor {
  if (grads.length === 0) throw new ShapeError("gradNorm: no gradients given");
  const gpu = grads[0].gpu;
  const slots = grads.reduce((s, g) => s + gradNormSlots(g.size), 0);
  // Back to the pool once recorded: later users of the buffer are recorded after the finalize
  // and run after it, in stream order.
  using partials = Tensor.empty(gpu, [slots]);
  let slot = 0;
  for (const g of grads) slot = sumOfSquares(g, partials, slot);
  return gradNormFinalize(partials, slots, opts);
}
