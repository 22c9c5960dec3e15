/**
 * The attention tuning table and its per-`Gpu` registry, the same mechanism as matmul's
 * (docs/design.md, "Variant choice per adapter"): for each shape class the kernel variant to
 * use on one adapter. Without a table that applies, the measured defaults per adapter kind
 * (`ATTENTION_DEFAULTS`) decide. Kept apart from the tuner (./tuning.ts) so that
 * `attention.ts` can consult the registry without importing the tuner (which imports it).
 * Web-standard: tables are plain JSON, stored by the caller (`loadOrTuneAttention` of
 * `@blockdiff/kernels/deno` keeps them in a file per adapter).
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import {
  type MatmulAdapterIdentity,
  matmulAdapterIdentity,
  sameMatmulAdapter,
} from "../matmul/tuning_table.ts";

/**
 * The kernels behind `attention`:
 * - `rows`: one subgroup per query row (`attention_rows.wgsl`), for decoding on CPU drivers;
 * - `tiled-8` / `tiled-32`: the query-tiled flash kernel (`attention.wgsl`) with 8 or 32 query
 *   rows per workgroup, split-KV with a combine pass when the grid is small.
 */
export type AttentionVariant = "rows" | "tiled-8" | "tiled-32";

/** Every variant. */
export const ATTENTION_VARIANTS: readonly AttentionVariant[] = ["rows", "tiled-8", "tiled-32"];

/**
 * The shape classes a table decides for:
 * - `decode`: at most `DECODE_MAX_SQ` query rows against at least `DECODE_MIN_SK` keys, every
 *   key visible (`full` / `cached`), vec4-aligned operands, head dim ≤ 128, no forced split:
 *   sampling with a KV cache, where `rows` can run;
 * - `tiled`: everything else (training, prefill, masked sampling).
 */
export type AttentionShapeClass = "decode" | "tiled";

/** Every shape class, in the order tables list them. */
export const ATTENTION_SHAPE_CLASSES: readonly AttentionShapeClass[] = ["decode", "tiled"];

/** Query rows up to which a call is a `decode` one. */
export const DECODE_MAX_SQ = 4;
/** Keys from which a call is a `decode` one. */
export const DECODE_MIN_SK = 64;

/** What the shape class of an `attention` call depends on. */
export interface AttentionShapeHint {
  /** The mask's `kind`. */
  mask: string;
  /** Query positions Sq. */
  seqQ: number;
  /** Key/value positions Sk. */
  seqK: number;
  /** Size of each head D. */
  headDim: number;
  /** Every operand and the output vec4-aligned. */
  vec: boolean;
  /** A split count forced by the caller. */
  split?: number;
}

/** The shape class of an `attention` call (see `AttentionShapeClass`). */
export function attentionShapeClass(h: AttentionShapeHint): AttentionShapeClass {
  return (h.mask === "full" || h.mask === "cached") && h.seqQ <= DECODE_MAX_SQ &&
      h.seqK >= DECODE_MIN_SK && h.headDim <= 128 && h.vec && h.split === undefined
    ? "decode"
    : "tiled";
}

/** Software (CPU) drivers, whose lanes are SIMD slots of a few cores, or hardware GPUs. */
export type AttentionAdapterKind = "software" | "gpu";

/** The kind of `gpu`'s adapter. */
export function attentionAdapterKind(gpu: Gpu): AttentionAdapterKind {
  return gpu.info.isSoftware ? "software" : "gpu";
}

/**
 * The choices used where no tuning table applies, per adapter kind, as measured with
 * `deno task bench attention` on lavapipe (2 cores) and on hardware GPUs: on CPU drivers the
 * row-per-subgroup kernel for decoding (the query-tiled kernel leaves most lanes idle for a
 * few rows) and tiles of 8 query rows (one subgroup); on GPUs tiles of 32 rows throughout.
 * A `rows` default on an adapter that cannot run it (no subgroups of ≥ 8 lanes) falls back
 * to the kind's `tiled` choice.
 */
export const ATTENTION_DEFAULTS: Readonly<
  Record<AttentionAdapterKind, Readonly<Record<AttentionShapeClass, AttentionVariant>>>
> = {
  software: { decode: "rows", tiled: "tiled-8" },
  gpu: { decode: "tiled-32", tiled: "tiled-32" },
};

/**
 * Workgroups split-KV aims for per adapter kind: a few per CPU core on a software driver
 * (`perCore`), a few hundred on a GPU.
 */
export const ATTENTION_SPLIT_TARGET: Readonly<
  Record<AttentionAdapterKind, { workgroups: number; perCore: boolean }>
> = {
  software: { workgroups: 4, perCore: true },
  gpu: { workgroups: 512, perCore: false },
};

/** Query rows per workgroup of a tiled variant (`rows` has none: 8 is its subgroup's width). */
export function attentionQueryTile(v: AttentionVariant): number {
  return v === "tiled-32" ? 32 : 8;
}

/** The variants that can run a shape class on this adapter: `rows` needs subgroups of ≥ 8 lanes. */
export function attentionCandidates(gpu: Gpu, cls: AttentionShapeClass): AttentionVariant[] {
  const rows = cls === "decode" && gpu.features.subgroups && gpu.info.subgroupMinSize >= 8;
  return rows ? ["rows", "tiled-8", "tiled-32"] : ["tiled-8", "tiled-32"];
}

/** The default choice for a class on `gpu` (`ATTENTION_DEFAULTS`), ignoring any table. */
export function attentionRuleVariant(gpu: Gpu, cls: AttentionShapeClass): AttentionVariant {
  const kind = ATTENTION_DEFAULTS[attentionAdapterKind(gpu)];
  const v = kind[cls];
  return attentionCandidates(gpu, cls).includes(v) ? v : kind.tiled;
}

/**
 * Version of the table's JSON layout. A table of another format is never used; bump it when
 * the fields or the meaning of the shape classes change.
 */
export const ATTENTION_TUNING_FORMAT = 1;

/** One representative call timed for a shape class (batch 1; mask `cached` or `full`). */
export interface AttentionTuningShape {
  /** Query positions Sq. */
  seqQ: number;
  /** Key/value positions Sk. */
  seqK: number;
  /** Number of heads H. */
  heads: number;
  /** Size of each head D. */
  headDim: number;
}

/** The decision for one shape class. */
export interface AttentionClassTuning {
  /** The fastest candidate that computed the right result. */
  variant: AttentionVariant;
  /** Milliseconds of each timed candidate: the sum over `shapes` of the best sample. */
  ms: Partial<Record<AttentionVariant, number>>;
  /** The calls timed. */
  shapes: AttentionTuningShape[];
  /** Candidates that did not compile, run or match the reference, with the reason. */
  failed?: Partial<Record<AttentionVariant, string>>;
}

/** A tuning table: the variant per shape class on one adapter, for one version of the kernels. */
export interface AttentionTuning {
  /** `ATTENTION_TUNING_FORMAT` when written. */
  format: number;
  /** `ATTENTION_KERNELS_ID` of the kernels timed. */
  kernels: string;
  /** The adapter measured (the same identity as matmul's tables). */
  adapter: MatmulAdapterIdentity;
  /** When it was measured (ISO 8601). */
  tunedAt: string;
  /** Classes decided; a missing class is left to the defaults. */
  classes: Partial<Record<AttentionShapeClass, AttentionClassTuning>>;
}

/** 32-bit FNV-1a of the parts (UTF-16 code units), as 8 hex digits: a kernels fingerprint. */
export function kernelsFingerprint(parts: readonly string[]): string {
  const text = parts.join("\n");
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, "0");
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function isVariant(x: unknown): x is AttentionVariant {
  return typeof x === "string" && (ATTENTION_VARIANTS as readonly string[]).includes(x);
}

function isClassTuning(x: unknown): x is AttentionClassTuning {
  if (!isRecord(x) || !isVariant(x.variant) || !isRecord(x.ms) || !Array.isArray(x.shapes)) {
    return false;
  }
  for (const [v, ms] of Object.entries(x.ms)) {
    if (!isVariant(v) || typeof ms !== "number" || !(ms >= 0)) return false;
  }
  return x.shapes.every((s) =>
    isRecord(s) &&
    [s.seqQ, s.seqK, s.heads, s.headDim].every((d) => Number.isInteger(d) && (d as number) > 0)
  ) && (x.failed === undefined || isRecord(x.failed));
}

/**
 * Checks that parsed JSON is a well-formed table of the current format and returns it typed;
 * anything else gives null. It does not check the adapter or kernels (`attentionTuningApplies`).
 */
export function parseAttentionTuning(json: unknown): AttentionTuning | null {
  if (!isRecord(json) || json.format !== ATTENTION_TUNING_FORMAT) return null;
  if (typeof json.kernels !== "string" || typeof json.tunedAt !== "string") return null;
  if (!isRecord(json.adapter) || !isRecord(json.classes)) return null;
  for (const [cls, t] of Object.entries(json.classes)) {
    if (!(ATTENTION_SHAPE_CLASSES as readonly string[]).includes(cls) || !isClassTuning(t)) {
      return null;
    }
  }
  return json as unknown as AttentionTuning;
}

/** True when `table` may decide for `gpu`: current format, these kernels, this adapter. */
export function attentionTuningApplies(
  table: AttentionTuning,
  gpu: Gpu,
  kernelsId: string,
): boolean {
  return table.format === ATTENTION_TUNING_FORMAT && table.kernels === kernelsId &&
    isRecord(table.adapter) && sameMatmulAdapter(table.adapter, matmulAdapterIdentity(gpu));
}

interface Registered {
  table: AttentionTuning;
  /** Validated choices per class, worked out on the first lookup (null: table not usable). */
  choices?: Partial<Record<AttentionShapeClass, AttentionVariant>> | null;
}

const registry = new WeakMap<Gpu, Registered>();

/**
 * Registers the tuning table `attention` consults on `gpu` (null removes it). A table of
 * another adapter, other kernels or another format is kept but ignored: the defaults decide.
 */
export function setAttentionTuning(gpu: Gpu, table: AttentionTuning | null): void {
  if (table) registry.set(gpu, { table });
  else registry.delete(gpu);
}

/** The table registered for `gpu` (whether or not it applies), or null. */
export function getAttentionTuning(gpu: Gpu): AttentionTuning | null {
  return registry.get(gpu)?.table ?? null;
}

/**
 * The variant for `cls` on `gpu`: the registered table's choice when it applies and names a
 * candidate, else the default (`attentionRuleVariant`). Cheap after the first call.
 */
export function attentionVariantFor(
  gpu: Gpu,
  cls: AttentionShapeClass,
  kernelsId: string,
): AttentionVariant {
  const r = registry.get(gpu);
  if (r && r.choices === undefined) {
    r.choices = attentionTuningApplies(r.table, gpu, kernelsId)
      ? Object.fromEntries(
        ATTENTION_SHAPE_CLASSES.flatMap((c) => {
          const v = r.table.classes[c]?.variant;
          return v && attentionCandidates(gpu, c).includes(v) ? [[c, v]] : [];
        }),
      )
      : null;
  }
  return r?.choices?.[cls] ?? attentionRuleVariant(gpu, cls);
}
