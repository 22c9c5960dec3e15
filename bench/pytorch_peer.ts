/**
 * A PyTorch peer for the end-to-end sampling bench: the same sampling algorithm on the same
 * weights, run by `tools/reference/sample_torch.py` (float32 torch, plain matmul attention, a
 * KV cache that mirrors `sampling/kv_denoiser.ts`) and timed in the same bench run. The
 * weights are exported to a temporary Hugging Face directory (config.json + model.safetensors,
 * as `bd3 convert` writes them), the script runs under `/usr/bin/python3` (or
 * `$BLOCKDIFF_PYTHON`), and its JSON line comes back as a {@link PeerResult}.
 * @module
 */
import { join } from "node:path";
import type { Dit, ParamSet } from "@blockdiff/model";
import type { ModelConfig, TensorMap } from "@blockdiff/model/io";
import { saveHfCheckpoint } from "@blockdiff/model/deno";

/** The Python used when neither `python` nor `$BLOCKDIFF_PYTHON` is given (Debian's, with python3-torch). */
export const DEFAULT_PYTHON = "/usr/bin/python3";

const SCRIPT = new URL("../tools/reference/sample_torch.py", import.meta.url);

/** Weights in any of the forms the bench has: a model, its parameters, or host tensors. */
export type PeerModel = Dit | ParamSet | { config: ModelConfig; tensors: TensorMap };

/** Options of {@link runPytorchPeer}. */
export interface PytorchPeerOptions {
  /** The model whose weights the peer samples with. */
  model: PeerModel;
  /** Sampler: BD3-LM semi-AR first-hitting, MDLM ancestral over one window, or AR. */
  algo: "bd3lm" | "mdlm" | "ar";
  /** BD3-LM block size L′ (also the prompt's commit chunk); ignored by the others. */
  blockSize: number;
  /** Rows sampled in lockstep. */
  batch: number;
  /** Prompt token ids after BOS (as `generate` tokenizes a prompt); may be empty. */
  promptIds: readonly number[];
  /** Tokens generated per row (no stop rules). */
  generate: number;
  /** MDLM ancestral steps T (default: the row length, as `generate`'s default). */
  steps?: number;
  /** BD3-LM / AR: sample with the KV cache (else recompute the window every call). */
  kvCache: boolean;
  /** Torch device (default cpu). */
  device?: "cpu" | "cuda";
  /** torch.set_num_threads (default navigator.hardwareConcurrency). */
  threads?: number;
  /** Torch dtype (default float32). */
  dtype?: "float32" | "float64";
  /**
   * Matmul backend (default auto: oneDNN for float32 on the CPU, since Debian's torch links
   * the reference BLAS; `torch`: F.linear / torch.matmul).
   */
  matmul?: "auto" | "torch" | "mkldnn";
  /** Sampler seed (default 0). */
  seed?: number;
  /**
   * BOS prepended to every row, like blockdiff's samplers (default vocab − 2: GPT-2's
   * `<|endoftext|>` with the mask token appended); null: the prompt is the whole prefix.
   */
  bosId?: number | null;
  /** Mask token id (default vocab − 1). */
  maskId?: number;
  /** Python interpreter (default `$BLOCKDIFF_PYTHON`, else {@link DEFAULT_PYTHON}). */
  python?: string;
  /** Kills the script when aborted. */
  signal?: AbortSignal;
}

/** The peer's measurement: the script's JSON line. */
export interface PeerResult {
  /** Generated tokens of all rows per second of the timed sampling run. */
  tokens_per_s: number;
  /** Wall-clock seconds of the sampling run (prompt passes included, warm-up and loading not). */
  seconds: number;
  /** The part of `seconds` spent on the prompt (its commit passes; AR: the first call). */
  prefill_seconds: number;
  /** Network calls that produced a prediction (blockdiff's NFE: commits not counted). */
  nfe: number;
  /** batch × generate. */
  generated: number;
  device: string;
  /** torch.__version__. */
  torch: string;
  /** torch.get_num_threads() during the run. */
  threads: number;
  dtype: string;
  /** The matmul backend used: `mkldnn` (oneDNN) or `torch`. */
  matmul: string;
  /** torch's BLAS_INFO and the BLAS library loaded, e.g. `generic (/usr/lib/…/blas/libblas.so.3…)`. */
  blas: string;
  algo: string;
  kv_cache: boolean;
  batch: number;
  block_size: number;
  /** BOS + prompt tokens per row. */
  prefix: number;
  /** KV-cache commit passes. */
  commits: number;
  /** Every forward pass (denoising calls, commits, AR prompt passes). */
  passes: number;
}

/** Why the peer did not run. */
export interface PeerSkipped {
  skipped: string;
}

/** The interpreter {@link runPytorchPeer} uses: `$BLOCKDIFF_PYTHON`, else {@link DEFAULT_PYTHON}. */
export function pytorchPython(): string {
  try {
    return Deno.env.get("BLOCKDIFF_PYTHON") || DEFAULT_PYTHON;
  } catch {
    return DEFAULT_PYTHON; // no env permission
  }
}

function lastLine(text: string): string {
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
  return lines[lines.length - 1] ?? "";
}

const probes = new Map<string, Promise<{ torch: string } | PeerSkipped>>();

/**
 * Checks that `python` exists and imports torch; returns torch's version, or why not (naming
 * the Debian package python3-torch). The answer is remembered per interpreter for the process.
 */
export function probePytorch(
  python: string = pytorchPython(),
): Promise<{ torch: string } | PeerSkipped> {
  let p = probes.get(python);
  if (!p) probes.set(python, p = probeOnce(python));
  return p;
}

async function probeOnce(python: string): Promise<{ torch: string } | PeerSkipped> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(python, {
      args: ["-c", "import numpy, torch; print(torch.__version__)"],
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (e) {
    return {
      skipped: `python3 not found at ${python} (${(e as Error).name}); ` +
        "install the Debian packages python3 and python3-torch",
    };
  }
  if (!out.success) {
    const why = lastLine(new TextDecoder().decode(out.stderr));
    return {
      skipped: /No module named .?torch/.test(why)
        ? `PyTorch is not installed for ${python} (Debian package python3-torch)`
        : `${python} cannot import torch and numpy: ${why} (Debian package python3-torch)`,
    };
  }
  return { torch: lastLine(new TextDecoder().decode(out.stdout)) };
}

async function hostWeights(model: PeerModel): Promise<{ config: ModelConfig; tensors: TensorMap }> {
  if ("tensors" in model) return model;
  const params = "params" in model ? model.params : model;
  return { config: params.config, tensors: await params.toHost() };
}

/**
 * Runs the PyTorch peer sampler on `opts.model`'s weights and returns its measurement, or
 * `{ skipped }` when python3 or torch is missing or the script fails (with its stderr's last
 * line). The weights go to a temporary HF directory, removed afterwards.
 */
export async function runPytorchPeer(opts: PytorchPeerOptions): Promise<PeerResult | PeerSkipped> {
  const python = opts.python ?? pytorchPython();
  const probe = await probePytorch(python);
  if ("skipped" in probe) return probe;
  const { config, tensors } = await hostWeights(opts.model);
  const dir = await Deno.makeTempDir({ prefix: "blockdiff-peer-" });
  try {
    await saveHfCheckpoint(dir, config, tensors);
    const promptFile = join(dir, "prompt.json");
    await Deno.writeTextFile(promptFile, JSON.stringify([...opts.promptIds]));
    const args = [
      SCRIPT.pathname,
      "--model",
      dir,
      "--algo",
      opts.algo,
      "--block-size",
      String(opts.blockSize),
      "--batch",
      String(opts.batch),
      "--prompt-ids",
      promptFile,
      "--generate",
      String(opts.generate),
      opts.kvCache ? "--kv-cache" : "--no-kv-cache",
      "--device",
      opts.device ?? "cpu",
      "--dtype",
      opts.dtype ?? "float32",
      "--threads",
      String(opts.threads ?? navigator.hardwareConcurrency),
      "--seed",
      String(opts.seed ?? 0),
      "--bos-id",
      String(opts.bosId === null ? -1 : opts.bosId ?? config.vocab - 2),
      "--mask-id",
      String(opts.maskId ?? config.vocab - 1),
      "--matmul",
      opts.matmul ?? "auto",
    ];
    if (opts.steps !== undefined) args.push("--steps", String(opts.steps));
    const out = await new Deno.Command(python, {
      args,
      stdout: "piped",
      stderr: "piped",
      env: { PYTHONDONTWRITEBYTECODE: "1" },
      signal: opts.signal,
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    if (!out.success) {
      return {
        skipped: `sample_torch.py failed (exit ${out.code}${
          out.signal ? `, ${out.signal}` : ""
        }): ${lastLine(stderr) || "no message"}`,
      };
    }
    const line = lastLine(new TextDecoder().decode(out.stdout));
    try {
      return JSON.parse(line) as PeerResult;
    } catch {
      return { skipped: `sample_torch.py printed no JSON line: ${JSON.stringify(line)}` };
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
