/**
 * `bd3 demo`: the main job on the embedded default. It checks the device with a quick kernel
 * self-test (every kernel against its float64 reference, one summary line), then samples a
 * short text from the bundled model (`models/bundled`), streamed as it is denoised, with its
 * NFE and tokens per second, and points at the web demo. Without a bundled model it runs the
 * full self-test and says so; `--self-test` runs only the full self-test.
 * @module
 */
import { acquireTunedGpu } from "./gpu.ts";
import type { Gpu } from "@blockdiff/core";
import { selfTest, type SelfTestResult } from "@blockdiff/kernels";
import { generate } from "@blockdiff/sampling";
import { type FlagSpec, formatFlags, parseArgs, UsageError } from "./args.ts";
import { BUNDLED_MODEL, checkWeights, fmtRate, isModelDir, readModel, toGpu } from "./model.ts";
import { LiveView } from "./live_view.ts";

const FLAGS: Record<string, FlagSpec> = {
  model: { type: "string", help: "sample from this model instead of models/bundled" },
  prompt: { type: "string", help: "text to continue" },
  length: {
    type: "number",
    help: "tokens to sample incl. BOS and prompt (default: 48 blocks; MDLM/SEDD: the model length)",
    integer: true,
    min: 1,
  },
  "self-test": { type: "boolean", help: "only run the kernel self-test, listing every kernel" },
  adapter: {
    type: "string",
    help: "adapter to use: lavapipe, swiftshader or part of a GPU's name",
  },
  seed: {
    type: "number",
    help: "seed of the sample (default 0) and of the self-test's inputs (default: fresh)",
    integer: true,
    min: 0,
    max: 0xffffffff,
  },
  json: { type: "boolean", help: "print JSON instead of text" },
  help: { type: "boolean", help: "show this help" },
};

/** Help text of `bd3 demo`. */
export const DEMO_HELP = `bd3 demo — self-test the kernels, then sample from the bundled model

Usage: bd3 demo [flags]

${formatFlags(FLAGS)}

Without a bundled model (models/bundled) the demo runs the full kernel self-test instead.

Examples:
  bd3 demo
  bd3 demo --prompt "The jury said"
  bd3 demo --self-test --adapter swiftshader --seed 7
  bd3 demo --model runs/micro --length 64`;

/** Runs `bd3 demo`. */
export async function runDemo(argv: string[]): Promise<number> {
  const { flags } = parseArgs(argv, FLAGS, "demo");
  if (flags.help) {
    console.log(DEMO_HELP);
    return 0;
  }
  const given = flags.seed as number | undefined;
  if (given !== undefined && (!Number.isInteger(given) || given < 0)) {
    throw new UsageError(`bd3 demo: --seed must be an integer ≥ 0, got ${given}`);
  }
  // Fresh self-test inputs each run catch more; the sample is fixed so the demo is repeatable.
  const testSeed = given ?? Math.floor(Math.random() * 2 ** 31);
  const seed = given ?? 0;
  const json = Boolean(flags.json);
  const modelPath = (flags.model as string | undefined) ??
    (await isModelDir(BUNDLED_MODEL) ? BUNDLED_MODEL : null);
  if (flags["self-test"] || !modelPath) {
    if (flags.prompt !== undefined || flags.length !== undefined) {
      throw new UsageError(
        `bd3 demo: --prompt and --length need a model ` +
          (flags["self-test"] ? "(not --self-test)" : `(none at ${BUNDLED_MODEL}; give --model)`),
      );
    }
    using session = await acquireTunedGpu(flags.adapter as string | undefined);
    if (!flags["self-test"] && !json) {
      console.log(
        `no bundled model at ${BUNDLED_MODEL}: running the kernel self-test only ` +
          `(sample from a model of yours with 'bd3 demo --model <dir>' or 'bd3 sample')`,
      );
    }
    return await fullSelfTest(session.gpu, testSeed, json);
  }

  // Read the model before acquiring the GPU: a bad directory should fail fast.
  const host = await readModel(modelPath);
  const { config } = host.dir;
  const tok = host.tokenizer;
  const prompt = flags.prompt as string | undefined;
  const prefix = [tok.bosId, ...(prompt ? tok.encode(prompt) : [])];
  const blocks = config.algo === "bd3lm" ? config.blockSize : 4;
  // BD3-LM and AR show variable length past the context (the KV cache slides); the others
  // sample their model length.
  const fixedLength = config.algo === "mdlm" || config.algo === "sedd";
  const length = (flags.length as number | undefined) ??
    (fixedLength ? config.length : prefix.length + 48 * blocks);
  if (!Number.isInteger(length) || length <= prefix.length) {
    throw new UsageError(
      `bd3 demo: --length ${length} must be an integer above the ${prefix.length} tokens of ` +
        `BOS and the prompt`,
    );
  }
  if ((config.algo === "mdlm" || config.algo === "sedd") && length !== config.length) {
    throw new UsageError(`bd3 demo: ${config.algo} samples its model length ${config.length}`);
  }

  using session = await acquireTunedGpu(flags.adapter as string | undefined);
  const { gpu } = session;
  const t0 = performance.now();
  const results = await selfTest(gpu, testSeed);
  const failed = results.filter((r) => !r.ok);
  const testSeconds = (performance.now() - t0) / 1000;
  if (!json) {
    console.log(`adapter: ${gpu.info.name}${gpu.info.isSoftware ? " (software driver)" : ""}`);
    console.log(
      failed.length
        ? `kernel self-test: ${failed.length} of ${results.length} kernels FAILED: ` +
          failed.map((r) => r.kernel).join(", ")
        : `kernel self-test: all ${results.length} kernels match their references ` +
          `(${testSeconds.toFixed(1)} s; details: bd3 demo --self-test)`,
    );
  }
  if (failed.length) {
    if (json) {
      console.log(JSON.stringify({ adapter: gpu.info.name, seed: testSeed, results }, null, 2));
    }
    return 1;
  }

  using loaded = toGpu(gpu, host);
  await checkWeights(loaded);
  if (!json) {
    console.log(
      `sampling ${length - prefix.length} tokens from ${host.dir.dir} ` +
        `(${config.algo}${config.algo === "bd3lm" ? `, block size ${config.blockSize}` : ""}, ` +
        `seed ${seed}):\n`,
    );
  }
  const view = json ? null : new LiveView(tok, prefix);
  const out = await generate(loaded.model, tok, {
    prompt,
    length,
    seed,
    topP: 0.9, // the reference's nucleus for BD3-LM sampling
    onStep: view ? (e) => view.onStep(e, tok.maskId) : undefined,
  });
  view?.finish();
  if (view && view.committed <= out.prefixLength) console.log(out.texts[0]);
  const summary = {
    adapter: gpu.info.name,
    selfTest: { kernels: results.length, failed: 0, seconds: testSeconds },
    model: host.dir.dir,
    sampler: out.sampler,
    text: out.texts[0],
    tokens: out.lengths[0],
    nfe: out.nfe,
    seconds: out.seconds,
    tokensPerSecond: out.tokensPerSecond,
  };
  if (json) {
    console.log(JSON.stringify(summary, null, 2));
    return 0;
  }
  console.log(
    `\n${out.sampler}: ${out.lengths[0]} tokens, NFE ${out.nfe}, ${out.seconds.toFixed(2)} s = ` +
      `${fmtRate(out.tokensPerSecond)} tok/s`,
  );
  console.log(
    `more: 'bd3 sample --live' for longer texts and other samplers; ` +
      `'deno task serve' serves the web demo (http://127.0.0.1:8787/)`,
  );
  return 0;
}

/** The full self-test, one line per kernel (or JSON). */
async function fullSelfTest(gpu: Gpu, seed: number, json: boolean): Promise<number> {
  if (!json) {
    console.log(`adapter: ${gpu.info.name}${gpu.info.isSoftware ? " (software driver)" : ""}`);
    console.log(`kernel self-test, seed ${seed}:`);
  }
  const results: SelfTestResult[] = await selfTest(gpu, seed, (r) => {
    if (!json) {
      const mark = r.ok ? "ok  " : "FAIL";
      console.log(
        `  ${mark} ${r.kernel.padEnd(34)} rel err ${r.relErr.toExponential(2)}  ${r.note ?? ""}`,
      );
    }
  });
  const failed = results.filter((r) => !r.ok).length;
  if (json) console.log(JSON.stringify({ adapter: gpu.info.name, seed, results }, null, 2));
  else {
    console.log(
      failed
        ? `${failed} kernel(s) FAILED`
        : `all ${results.length} kernels match their references`,
    );
  }
  return failed ? 1 : 0;
}
