/**
 * The semi-autoregressive block sampler (the paper's Algorithm 2; docs/design.md, "Semi-AR loop"),
 * composed from an inner sampler, a block-size policy and stop rules, against a {@link
 * BlockDenoiser}. MDLM is the same loop with one block of the whole length.
 * @module
 */
import type { BlockDenoiser } from "./denoiser.ts";
import type { DrawRecord } from "./draw_record.ts";
import { countMasked, type InnerSampler } from "./inner.ts";
import { type BlockSizePolicy, fixedBlockSize, probeFrom } from "./block_size.ts";
import type { ProbabilityOptions } from "./probabilities.ts";
import { checkStop, type StopDecision, type StopRule } from "./stop_rules.ts";
import { prefixes } from "./prompt.ts";
import { SamplerRng } from "./rng.ts";

/** A progress report, for live views: after every inner step and every finished block. */
export interface StepEvent {
  /** "block"; | "step" after an inner step, "block" when a block is finished. */
  kind: "step" | "block";
  /** Position of the block's first token in the row. */
  blockStart: number;
  /** Block size n. */
  size: number;
  /** Inner step within the block. */
  step: number;
  /** Network calls so far. */
  nfe: number;
  /** The block's current tokens `[B, n]` (a copy). */
  block: Int32Array;
  /** Masked tokens left in the block (all rows). */
  masked: number;
}

/** Common options of every sampler. */
export interface SamplerCommon {
  /** Id of the mask token. */
  maskId: number;
  /** Id of the BOS token that starts every row. */
  bosId: number;
  /** Prompt tokens after BOS: one for every row, or one per row (equal lengths). */
  prompt?: readonly number[] | readonly (readonly number[])[];
  /** Most tokens per row, BOS and prompt included. */
  length: number;
  /** Seed of the sampler's Philox stream. */
  seed: number;
  /** Temperature and nucleus (the mask id is always excluded). */
  probabilities?: Omit<ProbabilityOptions, "maskId">;
  /** Stop rules checked after each block / token (default none). */
  stopRules?: readonly StopRule[];
  /**
   * When a rule fires: `truncate` ends the row at the rule's cut (variable length, the
   * default) or `reject` marks the row rejected and keeps it whole (fixed-length mode).
   */
  onStop?: "truncate" | "reject";
  /** Rules are checked only once a row is longer than this (the reference uses 256). */
  minStopLength?: number;
  /** Progress callback. */
  onStep?: (e: StepEvent) => void | Promise<void>;
  /** Aborts between network calls. */
  signal?: AbortSignal;
}

/** Options of {@link semiArSample}. */
export interface SemiArOptions extends SamplerCommon {
  /** How each block's masks are revealed. */
  inner: InnerSampler;
  /** Block sizes (default: fixed at `prefixChunk`, else an error). */
  blockSize: BlockSizePolicy;
  /**
   * Reuse p_θ when a step changed no token (the reference's x0 cache; only valid for models
   * that ignore t). Default true. Skipped calls are not counted as NFE.
   */
  cacheX0?: boolean;
  /** The prompt is committed in full chunks of this size (default: the smallest block size). */
  prefixChunk?: number;
}

/** What a sampler produced. */
export interface SampleResult {
  /** Each row's tokens (BOS and prompt included), cut at its stop in truncate mode. */
  rows: Int32Array[];
  /** Length of BOS + prompt. */
  prefixLength: number;
  /** Network calls that produced predictions (probes included; commits not). */
  nfe: number;
  /** Commit passes (KV-cache writes of finished blocks / prompt chunks). */
  commits: number;
  /** Probe passes whose prediction could not be reused (already included in `nfe`). */
  probes: number;
  /** Size of every generated block, in order. */
  blockSizes: number[];
  /** Per row: the stop rule that fired, if any. */
  stops: (StopDecision | null)[];
  /** Per row: rejected by a stop rule in `reject` mode. */
  rejected: boolean[];
  /**
   * Seconds spent on the prompt before the first prediction of a generated token (its KV
   * commits; AR: the prompt call), so decoding speed can be told from prefill speed.
   */
  prefillSeconds?: number;
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason ?? new DOMException("sampling aborted", "AbortError");
}

/** Finalises rows and stop bookkeeping for every sampler. */
export function finishRows(
  seq: number[][],
  stops: (StopDecision | null)[],
  mode: "truncate" | "reject",
): { rows: Int32Array[]; rejected: boolean[] } {
  return {
    rows: seq.map((r, i) =>
      Int32Array.from(mode === "truncate" && stops[i] ? r.slice(0, stops[i]!.cut) : r)
    ),
    rejected: stops.map((s) => mode === "reject" && s !== null),
  };
}

/**
 * Generates `length` tokens per row block by block. Per block: (adaptive policies) a probe
 * pass picks the size; the block starts as the prompt's tail plus masks; the inner sampler
 * reveals tokens, calling the network only when the previous step changed something; then
 * stop rules run and the block is committed to the denoiser's context.
 */
export async function semiArSample(
  denoiser: BlockDenoiser,
  opts: SemiArOptions,
): Promise<SampleResult> {
  const B = denoiser.batch, m = opts.maskId;
  const policy = opts.blockSize;
  const probOpts = { ...opts.probabilities, maskId: m };
  const rules = opts.stopRules ?? [];
  const mode = opts.onStop ?? "truncate";
  const cacheX0 = opts.cacheX0 ?? true;
  const rng = new SamplerRng(opts.seed);
  const seq = prefixes(B, opts.bosId, opts.prompt);
  const P = seq[0].length;
  if (P >= opts.length) throw new RangeError(`prompt of ${P} tokens leaves nothing to generate`);
  await denoiser.reset();
  const started = performance.now();

  let nfe = 0, commits = 0, probes = 0;
  const blockSizes: number[] = [];
  const stops: (StopDecision | null)[] = new Array(B).fill(null);
  const gather = (start: number, n: number) => {
    const out = new Int32Array(B * n).fill(m);
    for (let r = 0; r < B; r++) {
      for (let j = 0; j < n && start + j < seq[r].length; j++) out[r * n + j] = seq[r][start + j];
    }
    return out;
  };

  // Commit the prompt's full chunks; its tail (at least BOS when P < chunk) opens block one.
  const chunk = opts.prefixChunk ?? policy.sizes[0];
  let pos = 0;
  // Full chunks of the prompt, as the loop below would commit them.
  let whole = 0;
  while (P - whole >= chunk && P - whole > 0 && whole + chunk < opts.length) whole += chunk;
  if (whole > chunk && denoiser.commitPrompt) {
    throwIfAborted(opts.signal);
    if (await denoiser.commitPrompt(gather(0, whole), whole, chunk)) {
      commits++;
      pos = whole;
    }
  }
  while (P - pos >= chunk && P - pos > 0 && pos + chunk < opts.length) {
    throwIfAborted(opts.signal);
    await denoiser.commit(gather(pos, chunk), chunk);
    commits++;
    pos += chunk;
  }

  const prefillSeconds = (performance.now() - started) / 1000;
  while (pos < opts.length && stops.some((s) => s === null)) {
    throwIfAborted(opts.signal);
    const tail = Math.max(P - pos, 0);
    const room = opts.length - pos;
    // Records of the block's current prediction, when one is ready to use (a reused probe).
    let draws: DrawRecord | null = null;
    let size: number;
    if (policy.probeSize > 0) {
      const n = Math.min(Math.max(policy.probeSize, tail + 1), room);
      const probeBlock = gather(pos, n);
      const t = opts.inner.time(0, countMasked(probeBlock, m));
      const probe = await denoiser.denoise(probeBlock, n, t, rng.uniforms(B * n), probOpts);
      nfe++;
      size = Math.min(
        Math.max(policy.choose(probeFrom(probe, probeBlock, B, n, m)), tail + 1),
        room,
      );
      if (size === n) draws = probe;
      else probes++;
    } else {
      size = Math.min(Math.max(policy.choose(null), tail + 1), room);
    }
    const block = gather(pos, size);
    const cap = 4 * size + 10_000; // a guard against an inner sampler that never finishes
    let step = 0;
    // Whether the denoiser's last prediction is still that of the block (no token changed).
    let predictionValid = draws !== null;
    for (let masked = countMasked(block, m); masked > 0; masked = countMasked(block, m)) {
      if (step >= cap) throw new Error(`${opts.inner.name} did not finish a block in ${cap} steps`);
      throwIfAborted(opts.signal);
      // p_θ stays with the denoiser: only one draw record per position comes back.
      if (!draws) {
        const u = rng.uniforms(B * size);
        if (predictionValid) {
          draws = await denoiser.redraw(u, probOpts);
        } else {
          const t = opts.inner.time(step, masked);
          draws = await denoiser.denoise(block, size, t, u, probOpts);
          nfe++;
        }
      }
      const changed = opts.inner.step({ block, draws, batch: B, size, maskId: m, step, rng });
      draws = null;
      predictionValid = !changed && cacheX0;
      step++;
      await opts.onStep?.({
        kind: "step",
        blockStart: pos,
        size,
        step,
        nfe,
        block: block.slice(),
        masked: countMasked(block, m),
      });
    }
    for (let r = 0; r < B; r++) {
      for (let j = 0; j < size; j++) {
        if (pos + j >= seq[r].length) seq[r].push(block[r * size + j]);
      }
    }
    blockSizes.push(size);
    for (let r = 0; r < B; r++) {
      if (stops[r] || seq[r].length <= (opts.minStopLength ?? 0)) continue;
      stops[r] = checkStop(rules, seq[r], P, opts.minStopLength ?? 0);
    }
    await opts.onStep?.({ kind: "block", blockStart: pos, size, step, nfe, block, masked: 0 });
    pos += size;
    // The last block's commit pass would only serve a next block, so it is skipped.
    if (pos < opts.length && stops.some((s) => s === null)) {
      await denoiser.commit(block, size);
      commits++;
    }
  }
  return {
    ...finishRows(seq, stops, mode),
    prefixLength: P,
    nfe,
    commits,
    probes,
    blockSizes,
    stops,
    prefillSeconds,
  };
}

/**
 * MDLM sampling: the whole length is one block, denoised by a full-sequence
 * model (a {@link BlockDenoiser} whose context stays empty).
 */
export function mdlmSample(
  denoiser: BlockDenoiser,
  opts: Omit<SemiArOptions, "blockSize" | "prefixChunk">,
): Promise<SampleResult> {
  return semiArSample(denoiser, {
    ...opts,
    blockSize: fixedBlockSize(opts.length),
    prefixChunk: opts.length,
  });
}
