/**
 * Graph construction with the kernel library's in-place add wired in for gradient
 * accumulation (the autograd core stays free of kernel imports).
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { Graph } from "@blockdiff/core";
import { residual } from "@blockdiff/kernels";

/** A new forward (and, with `grad: true`, backward) scope on `gpu`. */
export function newGraph(gpu: Gpu, opts: { grad?: boolean; train?: boolean } = {}): Graph {
  return new Graph(gpu, { ...opts, addInto: (dst, src) => residual(dst, src, null, dst) });
}
