/**
 * Deterministic training states for the checkpoint tests, and a writer process (run as a script)
 * that saves checkpoints in a loop until it is killed.
 * @module
 */
import { expectedParameters } from "../hf_params.ts";
import { f32Tensor, type TensorMap } from "../host_tensor.ts";
import { type ModelConfig, modelConfig } from "../model_config.ts";
import { saveTrainingCheckpoint, type TrainingState } from "../training_checkpoint.ts";

/** A model config whose checkpoint is about 22 MB (four groups of ~1.4 M f32). */
export const BIG: ModelConfig = modelConfig({
  hidden: 128,
  heads: 4,
  blocks: 4,
  condDim: 32,
  vocab: 2000,
  length: 64,
  blockSize: 8,
});

/** A tiny model config for fast tests. */
export const TINY: ModelConfig = modelConfig({
  hidden: 8,
  heads: 2,
  blocks: 1,
  condDim: 4,
  vocab: 5,
  length: 8,
  blockSize: 4,
});

/** Value of element `i` of tensor number `t` of group `g` at `step` (exact in f32). */
export function fixtureValue(step: number, g: number, t: number, i: number): number {
  return ((step * 7 + g * 131 + t * 17 + i) % 4093) / 64 - 32;
}

function group(c: ModelConfig, step: number, g: number): TensorMap {
  const out: TensorMap = new Map();
  expectedParameters(c).forEach((p, t) => {
    const x = f32Tensor(p.shape);
    const d = x.data as Float32Array;
    for (let i = 0; i < d.length; i++) d[i] = fixtureValue(step, g, t, i);
    out.set(p.key, x);
  });
  return out;
}

/** The deterministic training state of `step`. */
export function fixtureState(c: ModelConfig, step: number): TrainingState {
  return {
    step,
    config: c,
    weights: group(c, step, 0),
    adamM: group(c, step, 1),
    adamV: group(c, step, 2),
    ema: group(c, step, 3),
    rng: { seed: 1, draws: step * 3 },
    dataPosition: { epoch: 0, offset: step * 512, shard: "owt-000" },
    extra: { lr: 3e-4 },
  };
}

/** Throws unless `s` equals `fixtureState(c, s.step)` exactly. */
export function assertFixture(c: ModelConfig, s: TrainingState): void {
  const maps = [s.weights, s.adamM, s.adamV, s.ema!];
  expectedParameters(c).forEach((p, t) => {
    maps.forEach((m, g) => {
      const d = m.get(p.key)!.data as Float32Array;
      for (let i = 0; i < d.length; i++) {
        if (d[i] !== fixtureValue(s.step, g, t, i)) {
          throw new Error(`step ${s.step}: group ${g} "${p.key}"[${i}] = ${d[i]}`);
        }
      }
    });
  });
  const rng = s.rng as { draws: number };
  if (rng.draws !== s.step * 3) throw new Error(`step ${s.step}: rng state ${JSON.stringify(rng)}`);
}

if (import.meta.main) {
  // Usage: checkpoint_fixture.ts <dir> <first step>: saves steps first, first+1, ... forever.
  const [dir, first] = Deno.args;
  for (let step = Number(first);; step++) {
    const state = fixtureState(BIG, step);
    console.log(`writing ${step}`);
    await saveTrainingCheckpoint(dir, state);
    console.log(`wrote ${step}`);
  }
}
