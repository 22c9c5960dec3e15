/**
 * End-to-end sampling speed: tokens/s and NFE for BD3-LM (L′ = 4, 8, 16), MDLM and AR at a
 * 1024-token context, batch 1 and 8, with and without the KV cache (the ratio is the cache's
 * speed-up), on randomly initialised weights (speed does not depend on the values; stop rules
 * are off so every run generates the same number of tokens). Each run starts from a prompt
 * that fills the window, so the cached and recomputed paths both work at full context.
 *
 * The PyTorch column of the plan (the reference bd3lms code) needs PyTorch ≥ 2 (SDPA / flex
 * attention) and `transformers`; when those are missing the bench says so in a record.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { type Algo, modelConfig } from "@blockdiff/core/io";
import { loadTokenizer } from "@blockdiff/core/data";
import { Dit, ParamSet } from "@blockdiff/core/nn";
import { generate } from "@blockdiff/core/sample";
import { emit } from "./harness.ts";

/** Options of the end-to-end bench. */
export interface E2eOptions {
  sizes?: ("micro" | "tiny" | "small")[];
  context?: number;
  batches?: number[];
  /** Tokens generated per run with the KV cache / without it (recomputing is far slower). */
  tokensCached?: number;
  tokensUncached?: number;
}

const PROMPT_TEXT = "The quick brown fox jumps over the lazy dog. ".repeat(400);

/** Runs the sampling bench and prints one JSON line per configuration. */
export async function benchE2e(gpu: Gpu, opts: E2eOptions = {}): Promise<void> {
  const tok = await loadTokenizer("gpt2");
  const ctx = opts.context ?? 1024;
  const sizes = opts.sizes ?? ["tiny"];
  const batches = opts.batches ?? [1, 8];
  const nCached = opts.tokensCached ?? 64;
  const nUncached = opts.tokensUncached ?? 16;
  const cases: [string, Algo, number][] = [
    ["BD3-LM L'=4", "bd3lm", 4],
    ["BD3-LM L'=8", "bd3lm", 8],
    ["BD3-LM L'=16", "bd3lm", 16],
    ["AR", "ar", ctx],
    ["MDLM", "mdlm", ctx],
  ];
  for (const size of sizes) {
    for (const [label, algo, blockSize] of cases) {
      const config = modelConfig({
        size,
        algo,
        vocab: tok.vocabSize,
        length: ctx,
        blockSize,
        dropout: 0,
      });
      using params = ParamSet.init(gpu, config, 1);
      using model = new Dit(gpu, params);
      for (const batch of batches) {
        const rates: Record<string, number> = {};
        for (const kvCache of algo === "mdlm" ? [false] : [true, false]) {
          const gen = kvCache ? nCached : nUncached;
          // MDLM denoises the whole window at once: T = gen steps over L tokens.
          const promptTokens = algo === "mdlm" ? 0 : ctx - gen;
          const prompt = tok.decode(
            tok.encode(PROMPT_TEXT).slice(0, Math.max(0, promptTokens - 1)),
          );
          const out = await generate(model, tok, {
            prompt: algo === "mdlm" ? undefined : prompt,
            batch,
            length: algo === "mdlm" ? ctx : ctx + gen,
            algo,
            sampler: algo === "mdlm" ? "ancestral" : "first-hitting",
            steps: algo === "mdlm" ? gen : undefined,
            kvCache,
            stopAtEos: false,
            entropyStop: false,
            seed: 1,
          });
          const generated = out.lengths.reduce((a, b) => a + b, 0);
          const tps = generated / out.seconds;
          rates[kvCache ? "cached" : "uncached"] = tps;
          emit({
            bench: "e2e",
            case: `${size} ctx=${ctx} ${label} batch=${batch} ${kvCache ? "kv-cache" : "no-cache"}`,
            ms: out.seconds * 1000,
            tokens_per_s: tps,
            nfe: out.nfe,
            generated_tokens: generated,
          });
        }
        if (rates.cached && rates.uncached) {
          emit({
            bench: "e2e",
            case: `${size} ctx=${ctx} ${label} batch=${batch} KV-cache speed-up`,
            ms: 0,
            kv_speedup: rates.cached / rates.uncached,
          });
        }
      }
    }
  }
  emit({
    bench: "e2e",
    case: "PyTorch reference",
    ms: NaN,
    skipped: await pytorchNote(),
  });
}

async function pytorchNote(): Promise<string> {
  try {
    const r = await new Deno.Command("/usr/bin/python3", {
      args: ["-c", "import torch,sys; print(torch.__version__); import transformers"],
      stdout: "piped",
      stderr: "null",
    }).output();
    const version = new TextDecoder().decode(r.stdout).trim();
    if (!version) return "PyTorch is not installed (Debian: python3-torch)";
    if (!r.success) {
      return `PyTorch ${version} is installed but the reference needs transformers and PyTorch ≥ 2 ` +
        "(scaled_dot_product_attention); no comparison";
    }
    return `PyTorch ${version} with transformers found, but this bench runs no reference sampler`;
  } catch {
    return "python3 not found";
  }
}

if (import.meta.main) {
  const { acquireGpu } = await import("@blockdiff/core/deno");
  using session = await acquireGpu();
  await benchE2e(session.gpu);
}
