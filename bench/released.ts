/**
 * The released checkpoints' shape, measured on this adapter: a `small` BD3-LM (d 768, 12
 * blocks, 12 heads, cond 128) at L 1024 with GPT-2's vocabulary plus [MASK] (50258), block
 * size 4, the configuration of `kuleshov-group/bd3lm-owt-block_size4`, with random weights
 * (speed and memory do not depend on the values). Its embedding and output matrices (154 MB
 * each in f32) exceed the 128 MiB storage binding of browsers' defaults and lavapipe, so this is
 * also the end-to-end check that they are split across bindings.
 *
 * Figures: loading a Hugging Face directory from disk to a ready model (the load check's pass
 * included), peak host memory (VmHWM) and the pool's device bytes after each phase, decoding
 * tokens/s at L′ = 4 with the KV cache at batch 1, one test-perplexity batch of the Brown test
 * split at L 1024, and PyTorch sampling the same weights in the same run.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { loadTokenizer } from "@blockdiff/data";
import { loadChunks } from "@blockdiff/data/deno";
import { modelConfig } from "@blockdiff/model/io";
import { loadModelDir, saveHfCheckpoint } from "@blockdiff/model/deno";
import { Dit, halfWeightsPay, ParamSet } from "@blockdiff/model";
import { generate } from "@blockdiff/sampling";
import { checkLoadedWeights, evalBatches, testPerplexity } from "@blockdiff/eval";
import { emit } from "./harness.ts";
import { runPytorchPeer } from "./pytorch_peer.ts";

/** Options of {@link benchReleased}. */
export interface ReleasedOptions {
  /** Tokens decoded in the timed sampling run (default 64; 16 on a CPU driver). */
  tokens?: number;
  /** PyTorch device for the peer, or "none" (default cpu). */
  pytorch?: "cpu" | "cuda" | "none";
  /** Test-perplexity batches of one 1024-token sequence (default 1; 0 skips). */
  evalBatches?: number;
}

/** Peak resident memory of this process so far (Linux VmHWM), bytes; NaN elsewhere. */
export function peakRssBytes(): number {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\s+(\d+) kB/m);
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

const GB = 1e9;

/** Runs the released-shape bench, printing one JSON line per figure. */
export async function benchReleased(gpu: Gpu, options: ReleasedOptions = {}): Promise<void> {
  const soft = gpu.info.isSoftware;
  const tokens = options.tokens ?? (soft ? 16 : 64);
  const evalCount = options.evalBatches ?? 1;
  const tok = await loadTokenizer("gpt2");
  const config = modelConfig({
    size: "small",
    algo: "bd3lm",
    vocab: tok.vocabSize,
    length: 1024,
    blockSize: 4,
    dropout: 0,
  });
  const dir = await Deno.makeTempDir({ prefix: "blockdiff-released-" });
  try {
    {
      using init = ParamSet.init(gpu, config, 1);
      await saveHfCheckpoint(dir, config, await init.toHost());
    }
    const base = { bench: "released", model: "small L=1024 V=50258 L'=4 (random weights)" };

    const t0 = performance.now();
    const m = await loadModelDir(dir);
    using params = ParamSet.fromHost(gpu, m.config, m.tensors, "released shape");
    using model = new Dit(gpu, params);
    const half = halfWeightsPay(gpu) && await model.useHalfWeights();
    const check = await checkLoadedWeights(model, tok);
    const loadS = (performance.now() - t0) / 1000;
    emit({
      ...base,
      case: "load (HF directory → ready model, load check included)",
      ms: loadS * 1000,
      load_check_nll: check.nll,
      peak_host_gb: peakRssBytes() / GB,
      device_gb: gpu.pool.stats().liveBytes / GB,
      weights: half ? "f16 (GEMVs)" : "f32",
    });

    const run = (n: number) =>
      generate(model, tok, {
        batch: 1,
        length: 1 + n,
        kvCache: true,
        stopAtEos: false,
        entropyStop: false,
        seed: 1,
      });
    await run(8); // compiles every pipeline and fills the pool
    const out = await run(tokens);
    const decodeS = out.seconds - out.prefillSeconds;
    const generated = out.lengths.reduce((a, b) => a + b, 0);
    const tps = generated / decodeS;
    const peer = options.pytorch === "none" ? null : await runPytorchPeer({
      model: params,
      algo: "bd3lm",
      blockSize: 4,
      batch: 1,
      promptIds: [],
      generate: tokens,
      kvCache: true,
      device: options.pytorch ?? "cpu",
    });
    const peerTps = peer && "tokens_per_s" in peer
      ? peer.generated / Math.max(peer.seconds - peer.prefill_seconds, 1e-9)
      : null;
    emit({
      ...base,
      case: "sample L'=4 kv-cache batch=1",
      ms: decodeS * 1000,
      tokens_per_s: tps,
      generated_tokens: generated,
      nfe: out.nfe,
      peak_host_gb: peakRssBytes() / GB,
      device_gb: gpu.pool.stats().liveBytes / GB,
      ...(peer
        ? "skipped" in peer ? { pytorch_skipped: peer.skipped } : {
          pytorch_tokens_per_s: peerTps,
          pytorch_device: peer.device,
          pytorch_threads: peer.threads,
          vs_pytorch: tps / peerTps!,
        }
        : {}),
    });

    if (evalCount > 0) {
      const chunks = await loadChunks({ kind: "brown" }, {
        tokenizer: tok,
        length: config.length,
        split: "test",
      });
      const t1 = performance.now();
      const r = await testPerplexity(model, evalBatches(chunks, 1), {
        maskId: tok.maskId,
        maxBatches: evalCount,
      });
      emit({
        ...base,
        case: `eval: test PPL, ${r.sequences} × 1024 tokens of Brown (test)`,
        ms: performance.now() - t1,
        nll: r.nll,
        peak_host_gb: peakRssBytes() / GB,
        device_gb: gpu.pool.stats().liveBytes / GB,
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
