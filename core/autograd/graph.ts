/**
 * Reverse-mode automatic differentiation over GPU tensors.
 *
 * A `Graph` is the scope of one forward (and optionally backward) pass: every activation it
 * creates is released back to the buffer pool by `dispose()`, so a training loop that builds
 * one graph per step reaches a fixed set of GPU buffers after the first step. Ops record a
 * backward closure when the graph was created with `grad: true`; `backward()` runs them in
 * reverse order, each reading the gradient of its output and adding into its inputs' gradients.
 *
 * Parameters own a persistent gradient buffer, zeroed by `zeroGrads()` before each step, so
 * every contribution (a weight used twice, gradient accumulation over micro-batches) adds up.
 * Activation gradients are created by their first contribution.
 * @module
 */
import type { Gpu } from "../gpu/runtime.ts";
import { Tensor } from "../tensor.ts";
import { formatShape, ShapeError } from "../gpu/errors.ts";

/** Adds `src` into `dst` in place (provided by the kernel library, injected to avoid a cycle). */
export type AddInto = (dst: Tensor, src: Tensor) => void;

/** A value in the graph: an activation or a parameter. */
export class Var {
  /** The value. Owned by the graph (activations) or by the model (parameters). */
  readonly value: Tensor;
  /** Whether gradients flow into this value. */
  readonly requiresGrad: boolean;
  /** Accumulated gradient, same shape as `value` (null until something contributes). */
  grad: Tensor | null = null;

  /** Wraps `value`; `requiresGrad` decides whether backward accumulates into `grad`. */
  constructor(value: Tensor, requiresGrad: boolean) {
    this.value = value;
    this.requiresGrad = requiresGrad;
  }

  /** Shape of the value. */
  get shape(): readonly number[] {
    return this.value.shape;
  }
}

/** A trainable tensor with a persistent gradient buffer. */
export class Param extends Var {
  /** Name in the Hugging Face layout (`backbone.blocks.0.attn_qkv.weight`, …). */
  readonly name: string;
  /** Whether `grad` was written during the current step. */
  gradWritten = false;

  /** A parameter called `name` owning `value`; a trainable one gets a zeroed gradient buffer. */
  constructor(name: string, value: Tensor, trainable = true) {
    super(value, trainable);
    this.name = name;
    if (trainable) this.grad = Tensor.empty(value.gpu, value.shape);
  }

  /** Frees the value and gradient buffers. */
  dispose(): void {
    this.value.dispose();
    this.grad?.dispose();
  }
}

/** Options of a graph. */
export interface GraphOptions {
  /** Record backward closures (training). */
  grad?: boolean;
  /** In-place add, used to accumulate gradients (pass `(d, s) => residual(d, s, null, d)`). */
  addInto: AddInto;
  /** Whether dropout is active (training mode). Defaults to `grad`. */
  train?: boolean;
}

/** One forward/backward scope. */
export class Graph implements Disposable {
  /** The runtime the graph records on. */
  readonly gpu: Gpu;
  /** Whether backward closures are recorded (training). */
  readonly grad: boolean;
  /** Whether dropout is active. */
  readonly train: boolean;
  readonly #addInto: AddInto;
  readonly #backward: (() => void)[] = [];
  readonly #temps: Tensor[] = [];
  #disposed = false;

  /** Opens a scope on `gpu`; dispose it to free its temporaries. */
  constructor(gpu: Gpu, opts: GraphOptions) {
    this.gpu = gpu;
    this.grad = opts.grad ?? false;
    this.train = opts.train ?? this.grad;
    this.#addInto = opts.addInto;
  }

  /** Registers a tensor to be released when the graph is disposed; returns it. */
  keep(t: Tensor): Tensor {
    this.#temps.push(t);
    return t;
  }

  /** Wraps a new activation owned by the graph. */
  wrap(t: Tensor, requiresGrad: boolean): Var {
    this.keep(t);
    return new Var(t, this.grad && requiresGrad);
  }

  /** Whether any of the inputs needs a gradient (an op records its backward only then). */
  needsGrad(...inputs: (Var | null | undefined)[]): boolean {
    return this.grad && inputs.some((v) => v?.requiresGrad);
  }

  /** Records a backward closure (run in reverse order by `backward`). */
  onBackward(fn: () => void): void {
    if (this.grad) this.#backward.push(fn);
  }

  /**
   * Where an op should write a gradient it can only overwrite (a matmul): a parameter's own
   * buffer on its first contribution of the step, a fresh buffer for an activation without a
   * gradient yet, else a temporary that `accumulate` then adds in.
   */
  gradTarget(v: Var): { out: Tensor; fresh: boolean } {
    if (v instanceof Param) {
      if (!v.gradWritten) {
        v.gradWritten = true;
        return { out: v.grad!, fresh: true };
      }
      return { out: this.keep(Tensor.empty(this.gpu, v.shape)), fresh: false };
    }
    if (!v.grad) {
      v.grad = this.keep(Tensor.empty(this.gpu, v.shape));
      return { out: v.grad, fresh: true };
    }
    return { out: this.keep(Tensor.empty(this.gpu, v.shape)), fresh: false };
  }

  /** Finishes a contribution made through `gradTarget`: adds it in unless it was the first. */
  accumulate(v: Var, target: { out: Tensor; fresh: boolean }): void {
    if (!target.fresh) this.#addInto(v.grad!, target.out);
  }

  /**
   * For kernels with an accumulate flag: the gradient buffer of `v` and whether to add into it.
   * Parameter gradients are zeroed by `zeroGrads`, so they are always added into.
   */
  gradInto(v: Var): { out: Tensor; accumulate: boolean } {
    if (v instanceof Param) {
      v.gradWritten = true;
      return { out: v.grad!, accumulate: true };
    }
    if (!v.grad) {
      v.grad = this.keep(Tensor.empty(this.gpu, v.shape));
      return { out: v.grad, accumulate: false };
    }
    return { out: v.grad, accumulate: true };
  }

  /**
   * A zero-initialised gradient of `v` to add into: for values whose gradient is assembled
   * from parts (the chunks of an adaLN modulation tensor).
   */
  gradZeroed(v: Var): Tensor {
    if (v instanceof Param) {
      v.gradWritten = true;
      return v.grad!;
    }
    if (!v.grad) v.grad = this.keep(Tensor.zeros(this.gpu, v.shape));
    return v.grad;
  }

  /**
   * Passes a gradient `d` on to `v` unchanged (a residual's skip path): the first time `v`
   * simply shares the tensor (the producer's gradient is dead after its backward), later it is
   * added in.
   */
  passGrad(v: Var, d: Tensor): void {
    if (!v.requiresGrad) return;
    if (d.size !== v.value.size) {
      throw new ShapeError(
        `gradient of shape ${formatShape(d.shape)} for a value of shape ${formatShape(v.shape)}`,
      );
    }
    if (v instanceof Param) {
      const t = this.gradTarget(v);
      if (t.fresh) this.gpu.copy(d.buffer, d.offset, t.out.buffer, t.out.offset, d.paddedBytes);
      else this.#addInto(v.grad!, d);
    } else if (!v.grad) {
      v.grad = d;
    } else {
      this.#addInto(v.grad, d);
    }
  }

  /**
   * Runs the recorded backward closures in reverse, starting from `root` whose gradient is
   * `seed` (a one-element tensor holding 1 for a scalar loss).
   */
  backward(root: Var, seed: Tensor): void {
    if (!this.grad) throw new Error("Graph.backward: this graph was built without grad: true");
    root.grad = seed;
    for (let i = this.#backward.length - 1; i >= 0; i--) this.#backward[i]();
    this.#backward.length = 0;
  }

  /** Releases every activation and temporary gradient of this graph. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const t of this.#temps) t.dispose();
    this.#temps.length = 0;
    this.#backward.length = 0;
  }

  /** Same as `dispose()`, for `using`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Zeroes every parameter gradient before a step (gradients then add up across uses). */
export function zeroGrads(params: readonly Param[]): void {
  for (const p of params) {
    if (!p.grad) continue;
    p.value.gpu.clear(p.grad.buffer, p.grad.offset, p.grad.paddedBytes);
    p.gradWritten = false;
  }
}
