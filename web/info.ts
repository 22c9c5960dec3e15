/**
 * GET /api/info: what a visitor needs to know about the server (its models in brief, the
 * adapter, the limits) and nothing about its files, paths or options.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { DEFAULT_LIMITS, type ServerLimits } from "./limits.ts";
import type { ModelInfo } from "./models.ts";

/** A model as GET /api/info summarises it. */
export interface PublicModel {
  /** The model's name, as requests name it. */
  name: string;
  /** Training algorithm. */
  algo: string;
  /** Tokenizer name (`bytes`, `gpt2`, or `tokenizer.json` for the model's own). */
  tokenizer: string;
  /** Whether the page can run it in the browser. */
  browser: boolean;
  /** The shape of the network. */
  config: Pick<
    ModelInfo["config"],
    "vocab" | "hidden" | "heads" | "blocks" | "length" | "blockSize"
  >;
}

/** The body of GET /api/info. */
export interface PublicInfo {
  /** The GPU adapter generations run on. */
  adapter: { name: string; software: boolean };
  /** The models offered. */
  models: PublicModel[];
  /** Request, queue and timeout limits in force. */
  limits: ServerLimits;
}

/**
 * Only the limit fields of `opts` (which may hold the app's other options: paths, the page
 * script), so that nothing else reaches the limits that /api/info shows.
 */
export function pickLimits(opts: Partial<ServerLimits>): Partial<ServerLimits> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(DEFAULT_LIMITS)) {
    const v = (opts as Record<string, unknown>)[key];
    if (v !== undefined) out[key] = v;
  }
  return out as Partial<ServerLimits>;
}

/** The body of GET /api/info. */
export function publicInfo(
  gpu: Gpu,
  models: readonly ModelInfo[],
  limits: ServerLimits,
): PublicInfo {
  return {
    adapter: { name: gpu.info.name, software: gpu.info.isSoftware },
    models: models.map((m) => ({
      name: m.name,
      algo: m.algo,
      // A model's own tokenizer file is named by its directory's relative file name only.
      tokenizer: m.tokenizer.endsWith(".json") ? "tokenizer.json" : m.tokenizer,
      browser: m.browser,
      config: {
        vocab: m.config.vocab,
        hidden: m.config.hidden,
        heads: m.config.heads,
        blocks: m.config.blocks,
        length: m.config.length,
        blockSize: m.config.blockSize,
      },
    })),
    limits: pickLimits(limits) as ServerLimits,
  };
}
