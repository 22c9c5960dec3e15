/**
 * The matmul tuning table and its per-`Gpu` registry: which kernel variant each shape class
 * uses on one adapter, as measured by `tuneMatmul` (./tuning.ts). Kept apart from the tuner so
 * that `matmul.ts` can consult the registry without importing the tuner (which imports it).
 * Web-standard: tables are plain JSON, stored by the caller (a file in Deno, anything in a
 * browser).
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import type { MatmulShapeHint, MatmulVariant } from "./matmul.ts";

/**
 * Version of the table's JSON layout. A table of another format is never used; bump it when
 * the fields or the meaning of the shape classes change.
 */
export const MATMUL_TUNING_FORMAT = 1;

/**
 * The shape classes a table decides for:
 * - `few-rows-linear`: M ≤ 4 rows against a Linear layer's weight (B used transposed, A not,
 *   K a multiple of 4) — the row-dot kernels or the GEMV kernel;
 * - `few-rows`: other products with M ≤ 4 — the GEMV kernel;
 * - `many-rows`: M > 4 — subgroup register tiling or workgroup-memory tiling.
 */
export type MatmulShapeClass = "few-rows-linear" | "few-rows" | "many-rows";

/** Every shape class, in the order tables list them. */
export const MATMUL_SHAPE_CLASSES: readonly MatmulShapeClass[] = [
  "few-rows-linear",
  "few-rows",
  "many-rows",
];

// Equals GEMV_MAX_ROWS of matmul.ts (tuning_test.ts checks); not imported from there because
// matmul.ts imports this module.
const FEW_ROWS = 4;

/** The shape class of a product of `m` rows (see `MatmulShapeClass`). */
export function matmulShapeClass(m: number, hint: MatmulShapeHint = {}): MatmulShapeClass {
  if (m > FEW_ROWS) return "many-rows";
  return hint.transB && !hint.transA && hint.k !== undefined && hint.k % 4 === 0
    ? "few-rows-linear"
    : "few-rows";
}

/**
 * The variants that can run a shape class on this adapter, the ones `tuneMatmul` times:
 * `rowdot-subgroup` needs subgroups, `subgroup` needs subgroups of at least 8 lanes.
 */
export function matmulCandidates(gpu: Gpu, cls: MatmulShapeClass): MatmulVariant[] {
  switch (cls) {
    case "few-rows-linear":
      return gpu.features.subgroups ? ["rowdot", "rowdot-subgroup", "gemv"] : ["rowdot", "gemv"];
    case "few-rows":
      return ["gemv"];
    case "many-rows":
      return gpu.features.subgroups && gpu.info.subgroupMinSize >= 8
        ? ["subgroup", "tiled"]
        : ["tiled"];
  }
}

/**
 * What identifies an adapter for tuning: the fields of `gpu.info` (the description carries the
 * driver version where the adapter reports one) and the subgroup support kernels depend on.
 */
export interface MatmulAdapterIdentity {
  /** `gpu.info.name`. */
  name: string;
  /** `gpu.info.vendor`. */
  vendor: string;
  /** `gpu.info.architecture`. */
  architecture: string;
  /** `gpu.info.device`. */
  device: string;
  /** `gpu.info.description` (names the driver and its version on most adapters). */
  description: string;
  /** Whether the device has the `subgroups` feature. */
  subgroups: boolean;
  /** Smallest subgroup size the adapter reports (0 when unknown). */
  subgroupMinSize: number;
  /** Largest subgroup size the adapter reports (0 when unknown). */
  subgroupMaxSize: number;
}

/** The identity of `gpu`'s adapter (see `MatmulAdapterIdentity`). */
export function matmulAdapterIdentity(gpu: Gpu): MatmulAdapterIdentity {
  const i = gpu.info;
  return {
    name: i.name,
    vendor: i.vendor,
    architecture: i.architecture,
    device: i.device,
    description: i.description,
    subgroups: gpu.features.subgroups,
    subgroupMinSize: i.subgroupMinSize,
    subgroupMaxSize: i.subgroupMaxSize,
  };
}

/** One representative product timed for a shape class. */
export interface MatmulTuningShape {
  /** Rows of A and C. */
  m: number;
  /** Columns of C. */
  n: number;
  /** Inner size. */
  k: number;
  /** B stored [N, K] (a Linear layer's weight) rather than [K, N]. */
  transB: boolean;
}

/** The decision for one shape class. */
export interface MatmulClassTuning {
  /** The fastest candidate that computed the right result. */
  variant: MatmulVariant;
  /**
   * Milliseconds of each timed candidate: the sum over `shapes` of the best sampled time of
   * one product. Candidates that failed their check are absent here and listed in `failed`.
   */
  ms: Partial<Record<MatmulVariant, number>>;
  /** The products timed. */
  shapes: MatmulTuningShape[];
  /** Candidates that did not compile, run or match the others, with the reason. */
  failed?: Partial<Record<MatmulVariant, string>>;
}

/** A tuning table: which variant each shape class uses on one adapter. JSON-serialisable. */
export interface MatmulTuning {
  /** `MATMUL_TUNING_FORMAT` of the code that wrote it. */
  format: number;
  /** `MATMUL_KERNELS_ID` of the kernels it timed: a table for other kernels is not used. */
  kernels: string;
  /** The adapter it was measured on: a table for another adapter is not used. */
  adapter: MatmulAdapterIdentity;
  /** When it was measured (ISO 8601). */
  tunedAt: string;
  /** Decisions; a class left out is decided by the fixed rules. */
  classes: Partial<Record<MatmulShapeClass, MatmulClassTuning>>;
}

/** True when two identities describe the same adapter. */
export function sameMatmulAdapter(a: MatmulAdapterIdentity, b: MatmulAdapterIdentity): boolean {
  return a.name === b.name && a.vendor === b.vendor && a.architecture === b.architecture &&
    a.device === b.device && a.description === b.description && a.subgroups === b.subgroups &&
    a.subgroupMinSize === b.subgroupMinSize && a.subgroupMaxSize === b.subgroupMaxSize;
}

const VARIANT_NAMES: ReadonlySet<string> = new Set<MatmulVariant>([
  "subgroup",
  "tiled",
  "gemv",
  "rowdot",
  "rowdot-subgroup",
  "naive",
]);

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function isIdentity(x: unknown): x is MatmulAdapterIdentity {
  if (!isRecord(x)) return false;
  return ["name", "vendor", "architecture", "device", "description"].every((k) =>
    typeof x[k] === "string"
  ) && typeof x.subgroups === "boolean" && Number.isInteger(x.subgroupMinSize) &&
    Number.isInteger(x.subgroupMaxSize);
}

function isClassTuning(x: unknown): x is MatmulClassTuning {
  if (!isRecord(x) || typeof x.variant !== "string" || !VARIANT_NAMES.has(x.variant)) return false;
  if (!isRecord(x.ms) || !Array.isArray(x.shapes)) return false;
  for (const [v, ms] of Object.entries(x.ms)) {
    if (!VARIANT_NAMES.has(v) || typeof ms !== "number" || !(ms >= 0)) return false;
  }
  return x.shapes.every((s) =>
    isRecord(s) && [s.m, s.n, s.k].every((d) => Number.isInteger(d) && (d as number) > 0) &&
    typeof s.transB === "boolean"
  ) && (x.failed === undefined || isRecord(x.failed));
}

/**
 * Checks that parsed JSON is a well-formed table of the current format, and returns it typed;
 * anything else (another format, missing or mistyped fields, unknown classes or variants)
 * gives null. It does not check the adapter or kernels (`matmulTuningApplies` does).
 */
export function parseMatmulTuning(json: unknown): MatmulTuning | null {
  if (!isRecord(json) || json.format !== MATMUL_TUNING_FORMAT) return null;
  if (typeof json.kernels !== "string" || typeof json.tunedAt !== "string") return null;
  if (!isIdentity(json.adapter) || !isRecord(json.classes)) return null;
  for (const [cls, t] of Object.entries(json.classes)) {
    if (!(MATMUL_SHAPE_CLASSES as readonly string[]).includes(cls) || !isClassTuning(t)) {
      return null;
    }
  }
  return json as unknown as MatmulTuning;
}

/**
 * True when `table` may decide for `gpu`: its format is current, it timed these kernels
 * (`kernelsId`, i.e. `MATMUL_KERNELS_ID`) and it was measured on this adapter.
 */
export function matmulTuningApplies(table: MatmulTuning, gpu: Gpu, kernelsId: string): boolean {
  return table.format === MATMUL_TUNING_FORMAT && table.kernels === kernelsId &&
    sameMatmulAdapter(table.adapter, matmulAdapterIdentity(gpu));
}

interface Registered {
  table: MatmulTuning;
  /** Validated choices per class, worked out on the first lookup (null: table not usable). */
  choices?: Partial<Record<MatmulShapeClass, MatmulVariant>> | null;
}

const registry = new WeakMap<Gpu, Registered>();

/**
 * Registers the tuning table `matmul` consults on `gpu` (null removes it). A table measured on
 * another adapter, for other kernels or in another format is kept but ignored: the fixed rules
 * decide then. Treat a registered table as immutable; register a new one to change it.
 */
export function setMatmulTuning(gpu: Gpu, table: MatmulTuning | null): void {
  if (table) registry.set(gpu, { table });
  else registry.delete(gpu);
}

/** The table registered for `gpu` (whether or not it applies), or null. */
export function getMatmulTuning(gpu: Gpu): MatmulTuning | null {
  return registry.get(gpu)?.table ?? null;
}

/**
 * The variant the registered table chose for `cls` on `gpu`, or null when no table applies or
 * it has no usable choice for the class (then the fixed rules decide). Used by
 * `matmulVariantFor`; cheap after the first call.
 */
export function tunedMatmulVariant(
  gpu: Gpu,
  cls: MatmulShapeClass,
  kernelsId: string,
): MatmulVariant | null {
  const r = registry.get(gpu);
  if (!r) return null;
  if (r.choices === undefined) {
    r.choices = matmulTuningApplies(r.table, gpu, kernelsId)
      ? Object.fromEntries(
        MATMUL_SHAPE_CLASSES.flatMap((c) => {
          const v = r.table.classes[c]?.variant;
          return v && matmulCandidates(gpu, c).includes(v) ? [[c, v]] : [];
        }),
      )
      : null;
  }
  return r.choices?.[cls] ?? null;
}
