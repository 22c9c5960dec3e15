/**
 * Full-sequence models: MDLM as a {@link BlockDenoiser} whose one block is the whole sequence
 * (bidirectional attention, spec 2.4), and SEDD's score network for the analytic sampler.
 * @module
 */
import type { BlockDenoiser, ScoreModel } from "@blockdiff/schedules";
import { Tensor } from "../tensor.ts";
import type { Dit } from "../nn/dit.ts";
import { newGraph } from "../nn/graph.ts";
import { idsTensor, sigmaTensor } from "./_logits.ts";

/** MDLM denoiser: `denoise` runs the full bidirectional pass; there is no context to commit. */
export class FullSequenceDenoiser implements BlockDenoiser {
  readonly batch: number;
  readonly vocab: number;
  readonly #model: Dit;
  passes = 0;

  constructor(model: Dit, batch: number) {
    this.#model = model;
    this.batch = batch;
    this.vocab = model.config.vocab;
  }

  reset(): void {}

  async denoise(block: Int32Array, n: number, t: number): Promise<Float32Array> {
    using g = newGraph(this.#model.gpu, { grad: false });
    const sigma = sigmaTensor(g, this.#model, this.batch, t);
    const ids = idsTensor(g, block, this.batch, n);
    const logits = this.#model.forward(g, { ids, sigma }, { kind: "full" });
    this.passes++;
    return await logits.value.readFloat();
  }

  commit(): Promise<void> {
    return Promise.resolve();
  }
}

/** SEDD score network: raw outputs of the full pass at noise level σ. */
export class DitScoreModel implements ScoreModel {
  readonly batch: number;
  readonly length: number;
  readonly vocab: number;
  readonly #model: Dit;

  constructor(model: Dit, batch: number) {
    this.#model = model;
    this.batch = batch;
    this.length = model.config.length;
    this.vocab = model.config.vocab;
  }

  async scores(x: Int32Array, sigma: number): Promise<Float32Array> {
    const gpu = this.#model.gpu;
    using g = newGraph(gpu, { grad: false });
    const s = g.keep(Tensor.from(gpu, new Float32Array(this.batch).fill(sigma), [this.batch]));
    const ids = idsTensor(g, x, this.batch, this.length);
    const logits = this.#model.forward(g, { ids, sigma: s }, { kind: "full" });
    return await logits.value.readFloat();
  }
}
