/**
 * The training loop (the paper's Algorithm 1 around `objectiveLoss`): micro-batches with
 * gradient accumulation, global-norm clipping and fused AdamW on the GPU (no readback needed
 * for the clip), an EMA of the weights, warm-up LR schedules, and a checkpointable state.
 *
 * Everything random is keyed by (seed, step) — t, masks, dropout — and the data order by the
 * batch iterator's (epoch, index), so a resumed run reproduces the uninterrupted one exactly.
 * @module
 */
import { Tensor } from "@blockdiff/core";
import { zeroGrads } from "@blockdiff/core";
import type { Dit } from "@blockdiff/model";
import { newGraph } from "@blockdiff/model";
import { objectiveLoss } from "./objectives.ts";
import { constantWarmup, cosineWarmup, type LrSchedule } from "./lr.ts";
import type { BatchIterator, BatchState } from "@blockdiff/data";
import type { TensorMap } from "@blockdiff/model";
import type { TrainingState } from "@blockdiff/model/deno";
import type { JsonValue } from "@blockdiff/model/io";
import { ShapeError } from "@blockdiff/core";
import { adamw, emaDecay, emaUpdate, gradNorm, philoxUniformRef } from "@blockdiff/kernels";
import type { ClipInterval } from "@blockdiff/schedules";

/** Hyper-parameters of a run (defaults: the reference's; docs/design.md, "Training"). */
export interface TrainerOptions {
  /** Sequences per micro-batch. */
  batchSize: number;
  /** Micro-batches per optimizer step (gradient accumulation). Default 1. */
  accumulate?: number;
  /** Peak learning rate. Default 3e-4. */
  lr?: number;
  /** Warm-up steps. Default 2500. */
  warmup?: number;
  /** `constant` (after warm-up) or `cosine` decay to `totalSteps`. Default constant. */
  schedule?: "constant" | "cosine";
  /** Steps of the whole run (for the cosine schedule). */
  totalSteps?: number;
  /** AdamW first-moment decay. Default 0.9. */
  beta1?: number;
  /** AdamW second-moment decay. Default 0.999. */
  beta2?: number;
  /** AdamW denominator epsilon. Default 1e-8. */
  eps?: number;
  /** AdamW decoupled weight decay. Default 0. */
  weightDecay?: number;
  /** Maximum global gradient L2 norm; 0 disables clipping. Default 1. */
  gradClip?: number;
  /** EMA decay; 0 keeps no EMA. Default 0.9999. */
  ema?: number;
  /** Seed of all noise (t, masks, dropout). Default 1. */
  seed?: number;
  /** Mask token id. */
  maskId: number;
  /** Clipped noise interval [β, ω]; default (1e-3, 1). */
  interval?: ClipInterval;
  /** Redraw masks of blocks outside the interval (the reference's `training.resample`). */
  resample?: boolean;
  /**
   * Adaptive block size training (BD3-LM): each step draws block boundaries from these sizes
   * (uniformly, the last block takes the remainder) instead of the model's fixed block size.
   */
  blockSizes?: readonly number[];
}

/** What one optimizer step reports. */
export interface StepMetrics {
  /** The optimizer step just taken (1-based). */
  step: number;
  /** Training loss of the step, summed over its scaled micro-batches. */
  loss: number;
  /** Global gradient L2 norm before clipping. */
  gradNorm: number;
  /** Learning rate the step used. */
  lr: number;
  /** Tokens of clean data consumed by the step. */
  tokens: number;
  /** Wall-clock time of the step, in milliseconds. */
  ms: number;
  /** Throughput: `tokens` per second of `ms`. */
  tokensPerSecond: number;
  /** Data epoch of the step's last micro-batch. */
  epoch: number;
}

/** A model under training with its optimizer state. */
export class Trainer implements Disposable {
  /** The model whose parameters are trained in place. */
  readonly model: Dit;
  /** Source of the training batches (its position is part of a checkpoint). */
  readonly data: BatchIterator;
  /** The options with their defaults filled in. */
  readonly opts:
    & Required<Omit<TrainerOptions, "interval" | "blockSizes" | "totalSteps">>
    & TrainerOptions;
  /** Optimizer steps taken. */
  step = 0;
  readonly #m: Tensor[];
  readonly #v: Tensor[];
  readonly #ema: Tensor[] | null;
  readonly #lr: LrSchedule;

  /**
   * Allocates the AdamW moments (and the EMA copy when `opts.ema` > 0) for `model`.
   * Throws ShapeError when the data's batch size or chunk length does not match.
   */
  constructor(model: Dit, data: BatchIterator, opts: TrainerOptions) {
    this.model = model;
    this.data = data;
    this.opts = {
      accumulate: 1,
      lr: 3e-4,
      warmup: 2500,
      schedule: "constant",
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0,
      gradClip: 1,
      ema: 0.9999,
      seed: 1,
      resample: false,
      ...opts,
    };
    if (data.batchSize !== opts.batchSize) {
      throw new ShapeError(
        `trainer batch size ${opts.batchSize} ≠ data batch size ${data.batchSize}`,
      );
    }
    if (data.chunks.length !== model.config.length) {
      throw new ShapeError(
        `data chunks of ${data.chunks.length} tokens do not match the model length ${model.config.length}`,
      );
    }
    const gpu = model.gpu;
    const list = model.params.list;
    this.#m = list.map((p) => Tensor.zeros(gpu, p.shape));
    this.#v = list.map((p) => Tensor.zeros(gpu, p.shape));
    this.#ema = this.opts.ema > 0 ? list.map((p) => p.value.clone()) : null;
    const o = this.opts;
    this.#lr = o.schedule === "cosine"
      ? cosineWarmup(o.lr, o.warmup, o.totalSteps ?? 1_000_000)
      : constantWarmup(o.lr, o.warmup);
  }

  /** Block boundaries for a step of adaptive-block-size training (null: the fixed size). */
  blockStartsFor(step: number): number[] | undefined {
    const sizes = this.opts.blockSizes;
    if (!sizes?.length || this.model.config.algo !== "bd3lm") return undefined;
    const L = this.model.config.length;
    const u = philoxUniformRef(L, [this.opts.seed >>> 0, 0], [step >>> 0, 0x10000]);
    const starts: number[] = [];
    for (let pos = 0, i = 0; pos < L; i++) {
      starts.push(pos);
      pos += sizes[Math.floor(u[i] * sizes.length)];
    }
    return starts;
  }

  /** Runs one optimizer step (all its micro-batches) and returns its metrics. */
  async trainStep(): Promise<StepMetrics> {
    const t0 = performance.now();
    const gpu = this.model.gpu;
    const o = this.opts;
    const params = this.model.params.list;
    const nextStep = this.step + 1;
    zeroGrads(params);
    const losses: Tensor[] = [];
    let tokens = 0;
    let epoch = 0;
    for (let micro = 0; micro < o.accumulate; micro++) {
      const batch = this.data.next().value;
      epoch = batch.epoch;
      tokens += batch.rows * batch.length;
      using g = newGraph(gpu, { grad: true });
      const r = objectiveLoss(g, this.model, {
        ids: batch.ids,
        batch: batch.rows,
        length: batch.length,
      }, {
        maskId: o.maskId,
        seed: o.seed,
        step: nextStep * o.accumulate + micro,
        interval: o.interval,
        resample: o.resample,
        lossScale: 1 / o.accumulate,
        blockStarts: this.blockStartsFor(nextStep * o.accumulate + micro),
      });
      losses.push(r.loss.value.clone());
      g.backward(r.loss, g.keep(Tensor.from(gpu, [1], [1])));
    }
    const lr = this.#lr(nextStep);
    const grads = params.map((p) => p.grad!);
    using normClip = gradNorm(grads, { maxNorm: o.gradClip > 0 ? o.gradClip : Infinity });
    params.forEach((p, i) =>
      adamw(p.value, p.grad!, this.#m[i], this.#v[i], {
        lr,
        step: nextStep,
        beta1: o.beta1,
        beta2: o.beta2,
        eps: o.eps,
        weightDecay: o.weightDecay,
        clip: o.gradClip > 0 ? normClip : undefined,
      })
    );
    if (this.#ema) {
      const decay = emaDecay(nextStep, o.ema);
      params.forEach((p, i) => emaUpdate(this.#ema![i], p.value, decay));
    }
    this.step = nextStep;
    let loss = 0;
    for (const l of losses) {
      loss += (await l.readFloat())[0];
      l.dispose();
    }
    const norm = (await normClip.readFloat())[0];
    const ms = performance.now() - t0;
    return {
      step: nextStep,
      loss,
      gradNorm: norm,
      lr,
      tokens,
      ms,
      tokensPerSecond: tokens / (ms / 1000),
      epoch,
    };
  }

  /** Copies the EMA weights into the model (for evaluation or export); returns an undo. */
  async swapInEma(): Promise<() => Promise<void>> {
    if (!this.#ema) return async () => {};
    const params = this.model.params.list;
    const saved = params.map((p) => p.value.clone());
    params.forEach((p, i) =>
      p.value.gpu.copy(this.#ema![i].buffer, 0, p.value.buffer, 0, p.value.paddedBytes)
    );
    await this.model.gpu.sync();
    return async () => {
      params.forEach((p, i) =>
        p.value.gpu.copy(saved[i].buffer, 0, p.value.buffer, 0, p.value.paddedBytes)
      );
      for (const s of saved) s.dispose();
      await this.model.gpu.sync();
    };
  }

  /** The full state to checkpoint (weights, moments, EMA, step, noise seed, data position). */
  async state(extra: JsonValue = null): Promise<TrainingState> {
    const params = this.model.params.list;
    const read = async (ts: Tensor[]): Promise<TensorMap> => {
      const out: TensorMap = new Map();
      for (let i = 0; i < ts.length; i++) {
        out.set(params[i].name, {
          dtype: "f32",
          shape: [...params[i].shape],
          data: new Float32Array(await ts[i].readFloat()),
        });
      }
      return out;
    };
    const { blockSizes, interval, totalSteps, ...rest } = this.opts;
    return {
      step: this.step,
      config: this.model.config,
      weights: await this.model.params.toHost(),
      adamM: await read(this.#m),
      adamV: await read(this.#v),
      ema: this.#ema ? await read(this.#ema) : null,
      rng: { seed: this.opts.seed, scheme: "philox(seed, step)" },
      dataPosition: { ...this.data.state },
      extra: {
        options: {
          ...rest,
          blockSizes: blockSizes ? [...blockSizes] : null,
          interval: interval ? { min: interval.min, max: interval.max } : null,
          totalSteps: totalSteps ?? null,
        },
        user: extra,
      } as JsonValue,
    };
  }

  /** Restores a checkpointed state into this trainer (same model configuration). */
  restore(state: TrainingState): void {
    const params = this.model.params.list;
    const put = (map: TensorMap, ts: Tensor[], what: string) => {
      params.forEach((p, i) => {
        const t = map.get(p.name);
        if (!t) throw new ShapeError(`checkpoint ${what} lacks "${p.name}"`);
        ts[i].write(t.data as Float32Array);
      });
    };
    put(state.weights, params.map((p) => p.value), "weights");
    put(state.adamM, this.#m, "AdamW first moments");
    put(state.adamV, this.#v, "AdamW second moments");
    if (this.#ema && state.ema) put(state.ema, this.#ema, "EMA");
    this.step = state.step;
    this.data.restore(state.dataPosition as unknown as BatchState);
  }

  /** Releases the optimizer state (not the model). */
  dispose(): void {
    for (const t of [...this.#m, ...this.#v, ...(this.#ema ?? [])]) t.dispose();
  }

  /** Same as {@link Trainer.dispose}, for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
