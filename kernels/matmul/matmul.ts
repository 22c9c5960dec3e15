/**
 * Matrix multiply for Linear layers and attention: `C = op(A)·op(B) (+ bias) (then GELU)`,
 * batched, f32. Several kernels share one launcher and are chosen per adapter: register
 * tiling with subgroup broadcasts on CPU drivers, workgroup-memory tiling on GPUs and a
 * GEMV-style kernel when M is tiny; `matmulNaive` is the one-thread-per-output baseline.
 * @module
 */
import { formatShape, type Gpu, ShapeError, Tensor, Uniforms } from "@blockdiff/core";
import common from "./matmul_common.wgsl" with { type: "text" };
import naiveSrc from "./matmul_naive.wgsl" with { type: "text" };
import gemvSrc from "./matmul_gemv.wgsl" with { type: "text" };
import tiledSrc from "./matmul_tiled.wgsl" with { type: "text" };
import subgroupSrc from "./matmul_subgroup.wgsl" with { type: "text" };
import inputsSrc from "./matmul_inputs.wgsl" with { type: "text" };
import rowdotSrc from "./matmul_rowdot.wgsl" with { type: "text" };
import rowdotSubgroupSrc from "./matmul_rowdot_subgroup.wgsl" with { type: "text" };
import { matmulShapeClass, tunedMatmulVariant } from "./tuning_table.ts";
import { rowChunks } from "../_row_chunks.ts";

/** The kernels behind `matmul`. */
export type MatmulVariant =
  | "subgroup"
  | "tiled"
  | "gemv"
  | "rowdot"
  | "rowdot-subgroup"
  | "naive";

/** Options of `matmul`. */
export interface MatmulOptions {
  /** A is stored as [..., K, M] (use its transpose). */
  transA?: boolean;
  /** B is stored as [N, K] / [..., N, K]: a Linear layer's weight `[out, in]`. The hot path. */
  transB?: boolean;
  /** Added to every row of C, shape [N]. */
  bias?: Tensor | null;
  /** Applies tanh-GELU after the bias. */
  gelu?: boolean;
  /** Output tensor [..., M, N] (must not alias A, B or the bias). */
  out?: Tensor;
  /** Forces a kernel (tests, benchmarks); by default `matmulVariantFor` picks one. */
  variant?: MatmulVariant;
  /**
   * Largest storage binding to use, in bytes; defaults to the device's
   * `maxStorageBufferBindingSize`. Lower it only to exercise N-chunking in tests.
   */
  maxBindingBytes?: number;
}

/** Rows up to which the GEMV kernel is chosen (and the rows it keeps per invocation). */
export const GEMV_MAX_ROWS = 4;

// Subgroup kernel tile: TM rows × 8·TN columns per subgroup of 8 lanes. 16×8 per lane is what
// measured best on lavapipe (`deno task bench matmul`).
const SG_TM = 16;
const SG_TN = 8;
const TILED_BM = 64;
const TILED_BN = 64;
const GEMV_WG = 64;

/** What `matmulVariantFor` needs to know of a product besides its row count. */
export interface MatmulShapeHint {
  /** A is read transposed. */
  transA?: boolean;
  /** B is read transposed. */
  transB?: boolean;
  /** Inner size K. */
  k?: number;
}

/**
 * The kernel `matmul` uses for `m` rows on this adapter. A tuning table registered for the
 * GPU (`setMatmulTuning`, measured by `tuneMatmul` on this adapter and these kernels) decides
 * first; without one, fixed rules do. Few rows against a Linear layer's weight (B used
 * transposed, K a multiple of 4): the vec4 row-dot GEMV, one subgroup per column on GPUs
 * with subgroups and one invocation per column on CPU drivers (whose lanes are SIMD slots,
 * where a subgroup reduction per column costs more than it saves). Other few-row products:
 * the scalar GEMV. More rows: subgroup register tiling on CPU drivers whose subgroups have at
 * least 8 lanes, workgroup-memory tiling otherwise.
 */
export function matmulVariantFor(
  gpu: Gpu,
  m: number,
  hint: MatmulShapeHint = {},
): MatmulVariant {
  return tunedMatmulVariant(gpu, matmulShapeClass(m, hint), MATMUL_KERNELS_ID) ??
    matmulRuleVariant(gpu, m, hint);
}

/** The fixed rules of `matmulVariantFor`, ignoring any registered tuning table. */
export function matmulRuleVariant(
  gpu: Gpu,
  m: number,
  hint: MatmulShapeHint = {},
): MatmulVariant {
  if (m <= GEMV_MAX_ROWS) {
    if (hint.transB && !hint.transA && hint.k !== undefined && hint.k % 4 === 0) {
      return gpu.features.subgroups && !gpu.info.isSoftware ? "rowdot-subgroup" : "rowdot";
    }
    return "gemv";
  }
  if (subgroupKernelUsable(gpu) && gpu.info.isSoftware) return "subgroup";
  return "tiled";
}

/** The subgroup kernel broadcasts from lanes 0–7, so subgroups must have ≥ 8 lanes. */
function subgroupKernelUsable(gpu: Gpu): boolean {
  return gpu.features.subgroups && gpu.info.subgroupMinSize >= 8;
}

interface Dims {
  batch: number;
  m: number;
  n: number;
  k: number;
  /** B has its own batch dims (else it is shared across A's batch). */
  batchedB: boolean;
  outShape: number[];
}

function dims(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Dims {
  const both = `A ${formatShape(a.shape)}${transA ? "ᵀ" : ""} and B ${formatShape(b.shape)}${
    transB ? "ᵀ" : ""
  }`;
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new ShapeError(`matmul: ${both}: both need at least 2 dimensions`);
  }
  a.expectDtype("f32", "matmul A");
  if (b.dtype !== "f16") b.expectDtype("f32", "matmul B");
  const ar = a.shape.length;
  const br = b.shape.length;
  const [m, ka] = transA ? [a.shape[ar - 1], a.shape[ar - 2]] : [a.shape[ar - 2], a.shape[ar - 1]];
  const [kb, n] = transB ? [b.shape[br - 1], b.shape[br - 2]] : [b.shape[br - 2], b.shape[br - 1]];
  if (ka !== kb) throw new ShapeError(`matmul: inner sizes differ (${ka} vs ${kb}) for ${both}`);
  const batchDims = a.shape.slice(0, -2);
  const batchedB = br > 2;
  if (batchedB) {
    const bBatch = b.shape.slice(0, -2);
    if (bBatch.length !== batchDims.length || bBatch.some((d, i) => d !== batchDims[i])) {
      throw new ShapeError(
        `matmul: batch dims of ${both} differ (B must be 2-D or share A's batch dims)`,
      );
    }
  }
  const batch = batchDims.reduce((x, y) => x * y, 1);
  if (!batchedB && !transA) {
    // A shared B against a row-major A: the batch is just more rows of A (and of C, which is
    // laid out the same way), so it folds into M. One product of batch·M rows reads B once
    // per row tile instead of once per batch element (Linear layers on [B, S, d]).
    return { batch: 1, m: batch * m, n, k: ka, batchedB, outShape: [...batchDims, m, n] };
  }
  return { batch, m, n, k: ka, batchedB, outShape: [...batchDims, m, n] };
}

/**
 * Returns `op(A)·op(B) (+ bias)`, optionally through tanh-GELU, as a new tensor (or `out`).
 *
 * A is [..., M, K] ([..., K, M] with `transA`); B is [K, N] or [..., K, N] ([N, K] /
 * [..., N, K] with `transB`), either 2-D and shared across A's batch or with A's batch dims.
 * A Linear layer `x·Wᵀ` with W [out, in] is `matmul(x, W, { transB: true, bias })`.
 * When B is larger than one storage binding it is split along N (transB, 2-D B only).
 * Records GPU work only; nothing is read back.
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const gpu = a.gpu;
  const transA = opts.transA ?? false;
  const transB = opts.transB ?? false;
  const d = dims(a, b, transA, transB);
  const bias = opts.bias ?? null;
  if (bias) {
    bias.expectDtype("f32", "matmul bias");
    bias.expectShape(
      [d.n],
      `matmul bias (for A ${formatShape(a.shape)}, B ${formatShape(b.shape)})`,
    );
  }
  const out = opts.out ?? Tensor.empty(gpu, d.outShape);
  out.expectDtype("f32", "matmul out");
  out.expectShape(d.outShape, `matmul out (A ${formatShape(a.shape)}, B ${formatShape(b.shape)})`);
  if (d.batch === 0 || d.m === 0 || d.n === 0) return out;
  if (d.batch > gpu.device.limits.maxComputeWorkgroupsPerDimension) {
    throw new ShapeError(
      `matmul: batch ${d.batch} of A ${formatShape(a.shape)} exceeds the grid limit`,
    );
  }

  // Half-precision B (a Linear weight stored f16 for inference) has only the row-dot kernels.
  const halfB = b.dtype === "f16";
  const variant = opts.variant ??
    (halfB ? halfVariant(gpu, d.k) : matmulVariantFor(gpu, d.m, { transA, transB, k: d.k }));
  if (halfB && variant !== "rowdot" && variant !== "rowdot-subgroup") {
    throw new ShapeError(
      `matmul: an f16 B (${formatShape(b.shape)}) needs a row-dot variant, not ${variant}`,
    );
  }
  if (variant === "subgroup" && !subgroupKernelUsable(gpu)) {
    throw new ShapeError(
      `matmul: the subgroup variant needs subgroups of ≥ 8 lanes; ${gpu.info.name} has ` +
        `${gpu.features.subgroups ? `${gpu.info.subgroupMinSize}` : "no subgroups"}`,
    );
  }
  if (variant === "rowdot-subgroup" && !gpu.features.subgroups) {
    throw new ShapeError(
      `matmul: the rowdot-subgroup variant needs subgroups; ${gpu.info.name} has none`,
    );
  }
  if (
    (variant === "rowdot" || variant === "rowdot-subgroup") && (!transB || transA || d.k % 4 !== 0)
  ) {
    throw new ShapeError(
      `matmul: the ${variant} variant needs B transposed, A not, and K a multiple of 4 (A ${
        formatShape(a.shape)
      }, B ${formatShape(b.shape)})`,
    );
  }
  const limit = opts.maxBindingBytes ?? gpu.device.limits.maxStorageBufferBindingSize;
  const both = `A ${formatShape(a.shape)}, B ${formatShape(b.shape)}`;
  for (const [what, t] of [["A", a], ["out", out]] as const) {
    if (t.paddedBytes > limit) {
      throw new ShapeError(
        `matmul: ${what} (${t.paddedBytes} bytes; ${both}) exceeds the adapter's ${limit}-byte ` +
          "storage binding limit (maxStorageBufferBindingSize); use fewer rows (a smaller batch or " +
          "length) or an adapter with a larger limit",
      );
    }
  }

  const kernel = gpu.kernel({
    name: `matmul_${variant}`,
    code: `${halfB ? halfWeights(SOURCES[variant]) : SOURCES[variant]}\n${common}`,
    params: {
      B_F16: halfB,
      TRANS_A: transA,
      TRANS_B: transB,
      HAS_BIAS: bias !== null,
      GELU: opts.gelu ?? false,
      ...(variant === "subgroup" ? { TM: SG_TM, TN: SG_TN } : {}),
      ...(variant === "gemv" ? { WG: GEMV_WG, MR: GEMV_MAX_ROWS } : {}),
      ...(variant === "rowdot" ? { WG: GEMV_WG, MR: rowdotRows(d.m) } : {}),
      ...(variant === "rowdot-subgroup" ? { WG: rowdotSubgroupWg(gpu), MR: rowdotRows(d.m) } : {}),
    },
    bindings: ["read", "read", "read", "write", "uniform"],
  });

  for (const chunk of chunksOfB(gpu, b, d, transB, limit)) {
    const u = new Uniforms()
      .u32(d.m).u32(d.n).u32(d.k).u32(chunk.nc)
      .u32(chunk.n0).u32(d.m * d.k).u32(d.batchedB ? d.k * d.n : 0).u32(d.m * d.n);
    // A dummy binding stands in for a missing bias (the kernel never reads it then).
    gpu.dispatch(
      kernel,
      [a, chunk.binding, bias ?? a, out],
      u.bytes(),
      grid(gpu, variant, d, chunk.nc),
    );
  }
  return out;
}

/**
 * The naive kernel (one invocation per output) behind the same interface: the benchmark's
 * baseline and a debugging aid. Same options as `matmul` except `variant`.
 */
export function matmulNaive(
  a: Tensor,
  b: Tensor,
  opts: Omit<MatmulOptions, "variant"> = {},
): Tensor {
  return matmul(a, b, { ...opts, variant: "naive" });
}

const SOURCES: Record<MatmulVariant, string> = {
  subgroup: `${subgroupSrc}\n${inputsSrc}`,
  tiled: `${tiledSrc}\n${inputsSrc}`,
  gemv: `${gemvSrc}\n${inputsSrc}`,
  rowdot: rowdotSrc,
  "rowdot-subgroup": rowdotSubgroupSrc,
  naive: `${naiveSrc}\n${inputsSrc}`,
};

/**
 * Identifies the matmul kernels a tuning table was measured with: a version number plus a
 * hash of every variant's WGSL and tile sizes, so a table goes stale when a kernel changes.
 */
export const MATMUL_KERNELS_ID: string = `1-${
  fnv1a(
    [
      ...Object.entries(SOURCES).map(([v, src]) => `${v}\n${src}`),
      common,
      `${SG_TM},${SG_TN},${TILED_BM},${TILED_BN},${GEMV_WG},${GEMV_MAX_ROWS}`,
    ].join("\n"),
  )
}`;

/** 32-bit FNV-1a of a string's UTF-16 code units, as 8 hex digits. */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** The row-dot variant for an f16 weight: the tuned / rule choice for few rows when it is one. */
function halfVariant(gpu: Gpu, k: number): MatmulVariant {
  const v = matmulVariantFor(gpu, 1, { transB: true, k });
  if (v === "rowdot" || v === "rowdot-subgroup") return v;
  return gpu.features.subgroups && !gpu.info.isSoftware ? "rowdot-subgroup" : "rowdot";
}

/**
 * A row-dot kernel reading B as f16 (4 values per 8-byte load, widened to f32 before the
 * multiply-adds, so products and sums stay f32): half the bytes of the weight stream.
 */
function halfWeights(src: string): string {
  const decl = "var<storage, read> b: array<vec4f>;";
  const load = "let bv = b[bBase + k];";
  if (!src.includes(decl) || !src.includes(load)) {
    throw new Error("matmul: the row-dot source no longer has the B declaration and load expected");
  }
  return `enable f16;\n${
    src.replace(decl, "var<storage, read> b: array<vec4<f16>>;").replace(
      load,
      "let bv = vec4f(b[bBase + k]);",
    )
  }`;
}

/** Rows each row-dot invocation keeps: just enough for M, so M = 1 does no wasted work. */
function rowdotRows(m: number): number {
  return m <= 1 ? 1 : m <= 2 ? 2 : GEMV_MAX_ROWS;
}

/** Workgroup of the subgroup row-dot kernel: whole subgroups, at least 64 invocations. */
function rowdotSubgroupWg(gpu: Gpu): number {
  return Math.max(64, gpu.info.subgroupMaxSize || 64);
}

function grid(gpu: Gpu, variant: MatmulVariant, d: Dims, nc: number): [number, number, number] {
  const up = (x: number, y: number) => Math.ceil(x / y);
  switch (variant) {
    case "subgroup":
      return [up(nc, 8 * SG_TN), up(d.m, SG_TM), d.batch];
    case "tiled":
      return [up(nc, TILED_BN), up(d.m, TILED_BM), d.batch];
    case "gemv":
      return [up(nc, GEMV_WG), up(d.m, GEMV_MAX_ROWS), d.batch];
    case "rowdot":
      return [up(nc, GEMV_WG), up(d.m, rowdotRows(d.m)), d.batch];
    case "rowdot-subgroup": {
      // Columns per workgroup with the largest subgroups the adapter may pick; smaller
      // subgroups then cover more columns and clamp the surplus.
      const wg = rowdotSubgroupWg(gpu);
      return [up(nc, wg / (gpu.info.subgroupMaxSize || 64)), up(d.m, rowdotRows(d.m)), d.batch];
    }
    case "naive":
      return [up(nc, 16), up(d.m, 16), d.batch];
  }
}

interface Chunk {
  n0: number;
  nc: number;
  binding: GPUBufferBinding;
}

/**
 * Splits B along N so each piece fits one storage binding. Only a 2-D transposed B ([N, K],
 * a weight matrix) has contiguous column blocks.
 */
function chunksOfB(gpu: Gpu, b: Tensor, d: Dims, transB: boolean, limit: number): Chunk[] {
  if (b.paddedBytes <= limit) return [{ n0: 0, nc: d.n, binding: b.binding() }];
  const shape = `B ${formatShape(b.shape)} (${b.paddedBytes} bytes)`;
  if (!transB || d.batchedB) {
    throw new ShapeError(
      `matmul: ${shape} exceeds this adapter's ${limit}-byte storage binding limit ` +
        "(maxStorageBufferBindingSize) and only a transposed B ([N, K], a Linear weight in " +
        "the forward pass) is split; use an adapter with a larger limit, or a smaller " +
        "vocabulary or width",
    );
  }
  const rowBytes = d.k * (b.dtype === "f16" ? 2 : 4);
  return rowChunks(gpu, b, rowBytes, d.n, `matmul: B ${formatShape(b.shape)}`, limit)
    .map((c) => ({ n0: c.row0, nc: c.rows, binding: c.binding }));
}
