/**
 * Backward of `rotary`: the forward rotates each (j, j + D/2) pair of q and k by
 * θ(p), an orthogonal map, so the gradient of its input is the gradient of its output rotated
 * by −θ(p). Applied in place to the q and k slots of a `dqkv` gradient `[B, S, 3d]`; the v
 * slot (not rotated in the forward) passes through untouched.
 *
 * Needs from the forward: nothing but its positions (the same `RotaryTable` and
 * `posOffset`/`posPeriod`); the rotation does not depend on the data.
 * @module
 */
import { formatShape, type Gpu, grid1d, ShapeError, type Tensor, Uniforms } from "@blockdiff/core";
import type { RotaryOptions, RotaryTable } from "./rotary.ts";
// The forward shader with INVERSE: rotating by −θ is the exact backward of rotating by θ.
import src from "./rotary.wgsl" with { type: "text" };

const WG = 256;

/**
 * Rotates the q and k gradients of `dqkv` in place by −θ and returns it. Takes the forward's
 * table and options: row s of every batch has position `posOffset + (s mod posPeriod)`.
 * @param dqkv f32 `[B, S, 3d]` gradient of rotary's output, d a multiple of `table.headDim`
 * @param table the forward's cos/sin table
 * @param options the forward's position offset and period
 */
export function rotaryBackward(
  dqkv: Tensor,
  table: RotaryTable,
  options: RotaryOptions = {},
): Tensor {
  const what = "rotaryBackward";
  const gpu: Gpu = dqkv.gpu;
  dqkv.expectDtype("f32", `${what} dqkv`);
  const D = table.headDim;
  const [, seq, features] = dqkv.shape;
  if (dqkv.shape.length !== 3 || features % 3 !== 0 || (features / 3) % D !== 0) {
    throw new ShapeError(
      `${what}: dqkv must be [B, S, 3d] with d a multiple of the head dim ${D}, got ${
        formatShape(dqkv.shape)
      }`,
    );
  }
  const width = features / 3;
  const offset = options.posOffset ?? 0;
  const period = options.posPeriod ?? seq;
  if (!Number.isInteger(offset) || Math.abs(offset) >= 2 ** 31) {
    throw new ShapeError(`${what}: posOffset must be an integer of magnitude < 2³¹, got ${offset}`);
  }
  if (!(period === Infinity || (Number.isInteger(period) && period >= 1))) {
    throw new ShapeError(`${what}: posPeriod must be an integer ≥ 1 or Infinity, got ${period}`);
  }
  if (dqkv.size === 0) return dqkv;
  const distinct = Math.min(seq, period);
  const reach = Math.max(Math.abs(offset), Math.abs(offset + distinct - 1));
  if (reach >= table.positions) {
    throw new ShapeError(
      `${what}: positions ${offset} … ${offset + distinct - 1} need a table of more than ` +
        `${reach} positions; this one has ${table.positions}`,
    );
  }
  const pairs = dqkv.size / 3;
  const kernel = gpu.kernel({
    name: "rotary_backward",
    code: src,
    params: { WG, INVERSE: true },
    bindings: ["uniform", "read", "write"],
  });
  // A period ≥ S never wraps; clamp it so Infinity (or any huge value) fits a u32.
  const u = new Uniforms().u32(pairs).u32(seq).u32(width).u32(D / 2)
    .u32(Math.min(period, seq)).i32(offset).u32(0).u32(0);
  gpu.dispatch(kernel, [table.tensor, dqkv], u.bytes(), grid1d(pairs, WG));
  return dqkv;
}
