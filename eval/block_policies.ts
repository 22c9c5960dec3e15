/**
 * The adaptive-block-size evaluation: on one BD3-LM model, sample with each fixed block size
 * and with adaptive policies, and report quality (generative perplexity under a scorer; the
 * samples' entropy as a degeneracy check) against the network calls it cost.
 * @module
 */
import type { AdaptiveBlockOptions } from "@blockdiff/schedules";
import type { Dit } from "@blockdiff/model";
import type { Tokenizer } from "@blockdiff/data";
import { generate, type GenerateOptions } from "@blockdiff/sampling";
import { generativePerplexity, type Scorer } from "./gen_ppl.ts";
import { sampleStats } from "./sample_stats.ts";
import { formatTable } from "./table.ts";
import { linePlot, type Series } from "./plot.ts";

/** Options of {@link compareBlockPolicies}. */
export interface PolicyComparisonOptions
  extends Omit<GenerateOptions, "blockSize" | "batch" | "seed" | "algo" | "onStep"> {
  /** Fixed sizes to compare (default [4, 8, 16]). */
  fixedSizes?: readonly number[];
  /** Adaptive policies (default: one over `fixedSizes` with its default threshold). */
  adaptive?: readonly AdaptiveBlockOptions[];
  /** Samples per policy, one sampling run each (default 4). */
  samples?: number;
  /** Seed of sample i is seed + i, the same for every policy (default 0). */
  seed?: number;
  /** Generative-perplexity scorer; without one only entropy and NFE are reported. */
  scorer?: Scorer;
}

/** One policy's row (JSON-ready). */
export interface PolicyRow {
  /** Any field, so a row can be looked up by a table column's key. */
  [key: string]: string | number | null;
  /** Name of the block-size policy. */
  policy: string;
  /** Samples drawn with the policy. */
  samples: number;
  /** Mean network calls per sample. */
  nfe: number;
  /** Network calls per generated token. */
  nfePerToken: number;
  /** Mean size of the blocks the policy chose, in tokens. */
  meanBlockSize: number;
  /** Generative perplexity under the scorer; null without one. */
  genPpl: number | null;
  /** Mean per-sample unigram entropy (nats). */
  entropy: number;
  /** Median generated length, in tokens. */
  lengthMedian: number;
  /** Generated tokens per second of sampling. */
  tokensPerSecond: number;
}

/** Rows, a Markdown table and an SVG plot of quality against NFE. */
export interface PolicyComparison {
  /** One row per policy. */
  rows: PolicyRow[];
  /** The rows as a Markdown table. */
  table: string;
  /** SVG document plotting quality against NFE. */
  svg: string;
}

/** Runs the comparison; see {@link PolicyComparisonOptions}. */
export async function compareBlockPolicies(
  model: Dit,
  tokenizer: Tokenizer,
  opts: PolicyComparisonOptions = {},
): Promise<PolicyComparison> {
  const { fixedSizes = [4, 8, 16], adaptive, samples = 4, seed = 0, scorer, ...gen } = opts;
  const policies: { name: string; blockSize: GenerateOptions["blockSize"]; fixed: boolean }[] = [
    ...fixedSizes.map((b) => ({ name: `fixed ${b}`, blockSize: b, fixed: true })),
    ...(adaptive ?? [{ sizes: fixedSizes }]).map((a) => ({
      name: `adaptive {${(a.sizes ?? fixedSizes).join(",")}} ${a.measure ?? "confidence"}${
        a.threshold !== undefined ? ` ${a.threshold}` : ""
      }`,
      blockSize: { adaptive: { sizes: fixedSizes, ...a } },
      fixed: false,
    })),
  ];
  const rows: PolicyRow[] = [];
  for (const p of policies) {
    const ids: number[][] = [], generated: number[][] = [];
    const runs: { nfe: number; seconds: number }[] = [];
    const sizes: number[] = [];
    for (let i = 0; i < samples; i++) {
      const out = await generate(model, tokenizer, {
        ...gen,
        algo: "bd3lm",
        batch: 1,
        seed: seed + i,
        blockSize: p.blockSize,
      });
      ids.push(out.ids[0]);
      generated.push(out.ids[0].slice(out.prefixLength));
      runs.push({ nfe: out.nfe, seconds: out.seconds });
      sizes.push(...out.blockSizes);
    }
    const stats = sampleStats(generated, runs);
    const ppl = scorer
      ? (await generativePerplexity(scorer, ids, (x) => tokenizer.decode(x))).genPpl
      : null;
    const tokens = generated.reduce((a, g) => a + g.length, 0);
    rows.push({
      policy: p.name,
      samples,
      nfe: stats.nfe,
      nfePerToken: tokens ? (stats.nfe * samples) / tokens : NaN,
      meanBlockSize: sizes.reduce((a, b) => a + b, 0) / Math.max(sizes.length, 1),
      genPpl: ppl,
      entropy: stats.entropy,
      lengthMedian: stats.lengthMedian,
      tokensPerSecond: stats.tokensPerSecond,
    });
  }
  const quality = scorer ? "genPpl" : "entropy";
  const fixedRows = rows.slice(0, fixedSizes.length);
  const series: Series[] = [
    { name: "fixed b", points: fixedRows.map((r) => [r.nfe, r[quality] as number]) },
    ...rows.slice(fixedSizes.length).map((r) => ({
      name: r.policy,
      points: [[r.nfe, r[quality] as number] as const],
      markersOnly: true,
    })),
  ];
  return {
    rows,
    table: formatTable(rows, [
      "policy",
      "samples",
      { key: "nfe", label: "NFE", digits: 1 },
      { key: "nfePerToken", label: "NFE/token", digits: 3 },
      { key: "meanBlockSize", label: "mean b", digits: 2 },
      { key: "genPpl", label: "gen PPL", digits: 2 },
      { key: "entropy", digits: 3 },
      { key: "lengthMedian", label: "median len", digits: 1 },
      { key: "tokensPerSecond", label: "tok/s", digits: 1 },
    ]),
    svg: linePlot(series, {
      title: `${scorer ? "Generative perplexity" : "Sample entropy"} vs NFE`,
      xLabel: "NFE per sample",
      yLabel: scorer ? "gen PPL" : "entropy (nats)",
    }),
  };
}
