/**
 * The GPU runtime every kernel runs on: a `GPUDevice` plus a pipeline cache, a buffer pool,
 * a per-submission uniform arena and command batching. It uses only web-standard WebGPU, so
 * it works the same on Dawn under Deno and on a browser's `navigator.gpu`.
 *
 * Kernels are recorded into one open compute pass and submitted together by `flush()` (called
 * by readbacks and `sync()`), so a whole forward pass or sampling step is one submission.
 * @module
 */
import { BufferPool, READBACK_USAGE } from "./pool.ts";
import { DeviceLostError, KernelError, ShapeError } from "./errors.ts";
import { settle } from "./wait.ts";

/** How a kernel uses a binding: read-only storage, read-write storage, or uniform params. */
export type BindingKind = "read" | "write" | "uniform";

/** A compile-time constant of a kernel: emitted as a module-scope WGSL `const`. */
export type KernelParam = number | boolean;

/** What a kernel is: its WGSL, its constants and the kinds of its bindings (group 0, in order). */
export interface KernelSpec {
  /** Short name used in labels and error messages, e.g. `matmul`. */
  name: string;
  /** WGSL source. `enable`/`requires` directives may open it; constants are inserted after them. */
  code: string;
  /** Compile-time constants; integers become `const N = 4;` (abstract int), booleans `const B = true;`. */
  params?: Record<string, KernelParam>;
  /** Binding kinds in binding order (binding i of group 0). */
  bindings: readonly BindingKind[];
  /** Entry point, `main` when omitted. */
  entry?: string;
}

/** A compiled kernel. */
export interface Kernel {
  /** The spec it was compiled from. */
  readonly spec: KernelSpec;
  /** Label used in profiles and error messages. */
  readonly label: string;
  /** The compiled compute pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** Layout of bind group 0. */
  readonly layout: GPUBindGroupLayout;
}

/** Anything that can be bound as a storage buffer (a Tensor, or a raw binding). */
export interface Bindable {
  /** The buffer range to bind. */
  binding(): GPUBufferBinding;
}

/** What the runtime knows about its adapter. */
export interface GpuInfo {
  /** Human-readable adapter name (`llvmpipe: Mesa 25.0.7 …`, `NVIDIA H200`, …). */
  name: string;
  /** Vendor string of the adapter. */
  vendor: string;
  /** Architecture string of the adapter. */
  architecture: string;
  /** Device string of the adapter. */
  device: string;
  /** Driver description of the adapter. */
  description: string;
  /** True for CPU drivers (lavapipe, SwiftShader, WARP): kernels pick CPU-friendly variants. */
  isSoftware: boolean;
  /** Subgroup size range the adapter reports (0 when unknown). */
  subgroupMinSize: number;
  /** Largest subgroup size (0 when unknown). */
  subgroupMaxSize: number;
}

/** Optional features the runtime detected on its device. */
export interface GpuFeatures {
  /** `shader-f16`: half-precision weights and math. */
  f16: boolean;
  /** Subgroup operations in WGSL. */
  subgroups: boolean;
  /** GPU timestamps, for `Gpu.profile`. */
  timestampQuery: boolean;
}

const UNIFORM_SLOT = 256;
const ARENA_SLOTS = 512;

/** Turns kernel params into WGSL constant declarations. */
function emitParams(params: Record<string, KernelParam> | undefined): string {
  if (!params) return "";
  return Object.entries(params).map(([k, v]) => {
    if (typeof v === "boolean") return `const ${k} = ${v};`;
    if (!Number.isFinite(v)) throw new Error(`kernel param ${k} must be finite, got ${v}`);
    return Number.isInteger(v) ? `const ${k} = ${v};` : `const ${k} = ${v.toExponential()};`;
  }).join("\n") + "\n";
}

/** Puts directives first, then the constants, then the rest of the source. */
export function assembleWgsl(spec: KernelSpec): string {
  const lines = spec.code.split("\n");
  const head: string[] = [];
  const body: string[] = [];
  for (const line of lines) {
    const t = line.trim();
    if (body.length === 0 && (t.startsWith("enable ") || t.startsWith("requires "))) {
      head.push(line);
    } else body.push(line);
  }
  return [...head, emitParams(spec.params), ...body].join("\n");
}

function kernelLabel(spec: KernelSpec): string {
  const p = spec.params ? Object.entries(spec.params).map(([k, v]) => `${k}=${v}`).join(",") : "";
  const entry = spec.entry && spec.entry !== "main" ? `:${spec.entry}` : "";
  return `${spec.name}${entry}(${p})`;
}

/** The runtime. Create it from a device (`new Gpu(device, info)`) or with `acquireGpu()` in Deno. */
export class Gpu {
  /** The WebGPU device every kernel runs on. */
  readonly device: GPUDevice;
  /** The adapter's description. */
  readonly info: GpuInfo;
  /** Optional features enabled on the device. */
  readonly features: GpuFeatures;
  /** Pooled storage buffers behind tensors. */
  readonly pool: BufferPool;
  readonly #kernels = new Map<string, Kernel>();
  readonly #pendingChecks: Promise<string | null>[] = [];
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #batchLabels: string[] = [];
  readonly #arena: GPUBuffer;
  readonly #arenaMirror = new Uint8Array(UNIFORM_SLOT * ARENA_SLOTS);
  #arenaUsed = 0;
  #lost: GPUDeviceLostInfo | null = null;
  #uncaptured: string | null = null;
  #submissions = 0;
  #dispatches = 0;
  #profile: ProfileState | null = null;

  /** Wraps `device`; `info` describes its adapter (see `acquireGpu` for Deno). */
  constructor(device: GPUDevice, info: GpuInfo) {
    this.device = device;
    this.info = info;
    this.features = {
      f16: device.features.has("shader-f16"),
      subgroups: device.features.has("subgroups"),
      timestampQuery: device.features.has("timestamp-query"),
    };
    this.pool = new BufferPool(device);
    this.#arena = device.createBuffer({
      size: this.#arenaMirror.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "uniform arena",
    });
    device.lost.then((info) => {
      this.#lost = info;
    });
    device.addEventListener("uncapturederror", (ev) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.#uncaptured ??= e.message;
    });
  }

  /** Submissions and dispatches so far (for benchmarks and tests of batching). */
  get counters(): { submissions: number; dispatches: number } {
    return { submissions: this.#submissions, dispatches: this.#dispatches };
  }

  /** Throws if the device was lost. */
  assertAlive(): void {
    if (this.#lost) {
      throw new DeviceLostError(
        `GPU device lost (${this.#lost.reason}: ${this.#lost.message || "no message"}). ` +
          "Restart the process; if it happens again, check the GPU driver or use a smaller model or batch.",
      );
    }
  }

  /** Compiles (once; cached by name and params) and returns a kernel. */
  kernel(spec: KernelSpec): Kernel {
    const label = kernelLabel(spec);
    const cached = this.#kernels.get(label);
    if (cached && cached.spec.code === spec.code) return cached;
    this.assertAlive();
    const device = this.device;
    device.pushErrorScope("validation");
    const module = device.createShaderModule({ code: assembleWgsl(spec), label });
    const layout = device.createBindGroupLayout({
      label,
      entries: spec.bindings.map((kind, binding) => ({
        binding,
        visibility: GPUShaderStage.COMPUTE,
        buffer: {
          type: kind === "uniform" ? "uniform" : kind === "read" ? "read-only-storage" : "storage",
        },
      })),
    });
    const pipeline = device.createComputePipeline({
      label,
      layout: device.createPipelineLayout({ bindGroupLayouts: [layout], label }),
      compute: { module, entryPoint: spec.entry ?? "main" },
    });
    const scope = device.popErrorScope();
    const info = module.getCompilationInfo();
    this.#pendingChecks.push(
      Promise.all([scope, info]).then(([err, ci]) => {
        const msgs = ci.messages.filter((m) => m.type === "error")
          .map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}`);
        if (!err && msgs.length === 0) return null;
        return `kernel ${label} failed to compile:\n${msgs.join("\n") || err?.message}`;
      }),
    );
    const kernel = { spec, label, pipeline, layout };
    this.#kernels.set(label, kernel);
    return kernel;
  }

  /** Compiles a kernel and waits for the compiler's verdict; throws `KernelError` on failure. */
  async compile(spec: KernelSpec): Promise<Kernel> {
    const k = this.kernel(spec);
    await this.#drainChecks();
    return k;
  }

  #beginPass(): GPUComputePassEncoder {
    if (!this.#encoder) {
      this.device.pushErrorScope("validation");
      this.#encoder = this.device.createCommandEncoder({ label: "blockdiff batch" });
    }
    if (!this.#pass) this.#pass = this.#encoder.beginComputePass();
    return this.#pass;
  }

  #endPass(): GPUCommandEncoder {
    if (!this.#encoder) {
      this.device.pushErrorScope("validation");
      this.#encoder = this.device.createCommandEncoder({ label: "blockdiff batch" });
    }
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    return this.#encoder;
  }

  /**
   * Records one dispatch of `kernel`. `resources` fill the storage bindings in order and
   * `uniforms` (at most 256 bytes) fills the uniform binding, if the kernel has one.
   */
  dispatch(
    kernel: Kernel,
    resources: readonly (Bindable | GPUBufferBinding)[],
    uniforms: ArrayBufferView | null,
    workgroups: readonly [number, number?, number?],
  ): void {
    this.assertAlive();
    const [x, y = 1, z = 1] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new KernelError(
        `kernel ${kernel.label}: grid ${x}×${y}×${z} exceeds the adapter's ${max} workgroups per dimension`,
      );
    }
    if (uniforms && this.#arenaUsed + UNIFORM_SLOT > this.#arenaMirror.byteLength) this.flush();
    const entries: GPUBindGroupEntry[] = [];
    let r = 0;
    kernel.spec.bindings.forEach((kind, binding) => {
      if (kind === "uniform") {
        if (!uniforms || uniforms.byteLength > UNIFORM_SLOT) {
          throw new KernelError(
            `kernel ${kernel.label}: needs ≤ ${UNIFORM_SLOT} bytes of uniforms`,
          );
        }
        const offset = this.#arenaUsed;
        this.#arenaMirror.set(
          new Uint8Array(uniforms.buffer, uniforms.byteOffset, uniforms.byteLength),
          offset,
        );
        this.#arenaUsed += UNIFORM_SLOT;
        entries.push({
          binding,
          resource: { buffer: this.#arena, offset, size: Math.ceil(uniforms.byteLength / 16) * 16 },
        });
      } else {
        const res = resources[r++];
        if (!res) {
          throw new KernelError(`kernel ${kernel.label}: missing resource for binding ${binding}`);
        }
        const resource = "binding" in res ? res.binding() : res;
        // Dawn would refuse the bind group with a validation dump; say what limit stopped it.
        const size = resource.size ?? resource.buffer.size - (resource.offset ?? 0);
        const limit = this.device.limits.maxStorageBufferBindingSize;
        if (size > limit) {
          throw new ShapeError(
            `kernel ${kernel.label}: a ${size}-byte tensor exceeds this adapter's ` +
              `${limit}-byte storage binding limit (maxStorageBufferBindingSize); use a smaller ` +
              "batch or length, or an adapter with a larger limit",
          );
        }
        entries.push({ binding, resource });
      }
    });
    if (r !== resources.length) {
      throw new KernelError(
        `kernel ${kernel.label}: ${resources.length} resources given, ${r} storage bindings declared`,
      );
    }
    const pass = this.#profile ? this.#profiledPass(kernel.label) : this.#beginPass();
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(
      0,
      this.device.createBindGroup({ layout: kernel.layout, entries, label: kernel.label }),
    );
    pass.dispatchWorkgroups(x, y, z);
    if (this.#profile) this.#endPass();
    this.#batchLabels.push(kernel.label);
    this.#dispatches++;
  }

  /**
   * Starts timing every dispatch on the GPU (needs `timestamp-query`): each dispatch then gets
   * its own compute pass with timestamps, which adds a little overhead per dispatch. `stop()`
   * on the returned handle waits for the work and returns the time per kernel label.
   */
  profile(): { stop(): Promise<KernelTime[]> } {
    if (!this.features.timestampQuery) {
      throw new KernelError(`${this.info.name} offers no timestamp-query: cannot profile kernels`);
    }
    if (this.#profile) throw new KernelError("a kernel profile is already running");
    this.flush();
    const state: ProfileState = {
      querySet: this.device.createQuerySet({ type: "timestamp", count: PROFILE_QUERIES }),
      labels: [],
      done: [],
    };
    this.#profile = state;
    return {
      stop: async () => {
        this.flush();
        this.#profile = null;
        await settle(this.device.queue.onSubmittedWorkDone());
        const totals = new Map<string, KernelTime>();
        for (const batch of state.done) {
          await settle(batch.buffer.mapAsync(GPUMapMode.READ));
          const t = new BigUint64Array(batch.buffer.getMappedRange().slice(0));
          batch.buffer.destroy();
          batch.resolved.destroy();
          batch.labels.forEach((label, i) => {
            const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
            const e = totals.get(label) ?? { label, count: 0, ms: 0 };
            e.count++;
            e.ms += Math.max(ms, 0);
            totals.set(label, e);
          });
        }
        state.querySet.destroy();
        await this.#drainChecks();
        return [...totals.values()].sort((a, b) => b.ms - a.ms);
      },
    };
  }

  #profiledPass(label: string): GPUComputePassEncoder {
    const prof = this.#profile!;
    if (prof.labels.length * 2 >= PROFILE_QUERIES) this.flush();
    const encoder = this.#endPass();
    const i = prof.labels.length;
    prof.labels.push(label);
    this.#pass = encoder.beginComputePass({
      timestampWrites: {
        querySet: prof.querySet,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      },
    });
    return this.#pass;
  }

  /** Records a buffer-to-buffer copy in the current batch. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.assertAlive();
    this.#endPass().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
    this.#batchLabels.push("copy");
  }

  /** Records a zero-fill of a buffer range in the current batch. */
  clear(buffer: GPUBuffer, offset = 0, size?: number): void {
    this.assertAlive();
    this.#endPass().clearBuffer(buffer, offset, size);
    this.#batchLabels.push("clear");
  }

  /** True when commands are recorded but not yet submitted. */
  get pending(): boolean {
    return this.#encoder !== null;
  }

  /** Submits everything recorded so far as one command buffer. */
  flush(): void {
    if (!this.#encoder) return;
    this.assertAlive();
    const encoder = this.#endPass();
    const prof = this.#profile;
    if (prof && prof.labels.length > 0) {
      // Resolve this batch's timestamps now: the query set is reused by the next batch.
      const bytes = prof.labels.length * 16;
      const resolved = this.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      const readback = this.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      encoder.resolveQuerySet(prof.querySet, 0, prof.labels.length * 2, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, readback, 0, bytes);
      prof.done.push({ labels: prof.labels, buffer: readback, resolved });
      prof.labels = [];
    }
    if (this.#arenaUsed > 0) {
      this.device.queue.writeBuffer(this.#arena, 0, this.#arenaMirror, 0, this.#arenaUsed);
      this.#arenaUsed = 0;
    }
    this.device.queue.submit([encoder.finish()]);
    this.#encoder = null;
    const labels = this.#batchLabels;
    this.#batchLabels = [];
    this.#submissions++;
    this.#pendingChecks.push(
      this.device.popErrorScope().then((e) =>
        e ? `${e.message}\n  (batch of ${labels.length}: ${summarize(labels)})` : null
      ),
    );
  }

  /**
   * Writes host data into a buffer. Work recorded earlier is submitted first, because a queue
   * write lands before any unsubmitted command, which may still read the old contents.
   */
  write(buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
    this.assertAlive();
    this.flush();
    let bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength % 4 !== 0) {
      // writeBuffer needs a multiple of 4 bytes: pad odd-sized (f16, u8) data with zeros.
      const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
      bytes = padded;
    }
    this.device.queue.writeBuffer(buffer, offset, bytes);
  }

  /** Copies `size` bytes of a buffer back to the host (submits pending work). */
  async read(buffer: GPUBuffer, offset: number, size: number): Promise<ArrayBuffer> {
    const padded = Math.ceil(size / 4) * 4;
    const staging = this.pool.acquire(padded, READBACK_USAGE, "readback");
    this.copy(buffer, offset, staging, 0, padded);
    this.flush();
    try {
      await settle(staging.mapAsync(GPUMapMode.READ, 0, padded));
    } catch (e) {
      this.assertAlive();
      await this.#drainChecks();
      throw new KernelError(`readback failed: ${(e as Error).message}`);
    }
    const out = staging.getMappedRange(0, padded).slice(0, size);
    staging.unmap();
    this.pool.release(staging);
    await this.#drainChecks();
    return out;
  }

  /** Submits pending work, waits for the GPU to finish it and reports any kernel error. */
  async sync(): Promise<void> {
    this.flush();
    await settle(this.device.queue.onSubmittedWorkDone());
    await this.#drainChecks();
  }

  async #drainChecks(): Promise<void> {
    const checks = this.#pendingChecks.splice(0);
    const errs = (await Promise.all(checks)).filter((e): e is string => e !== null);
    this.assertAlive();
    if (this.#uncaptured) {
      errs.push(this.#uncaptured);
      this.#uncaptured = null;
    }
    if (errs.length) throw new KernelError(errs.join("\n"));
  }

  /** Releases GPU memory held by the pool and destroys the device. */
  destroy(): void {
    this.pool.trim();
    this.#arena.destroy();
    this.device.destroy();
  }
}

/** GPU time of one kernel label over a profile (see `Gpu.profile`). */
export interface KernelTime {
  /** The kernel's label. */
  label: string;
  /** Dispatches timed. */
  count: number;
  /** Total GPU milliseconds. */
  ms: number;
}

const PROFILE_QUERIES = 2048;

interface ProfileState {
  querySet: GPUQuerySet;
  labels: string[];
  done: { labels: string[]; buffer: GPUBuffer; resolved: GPUBuffer }[];
}

function summarize(labels: string[]): string {
  const counts = new Map<string, number>();
  for (const l of labels) counts.set(l, (counts.get(l) ?? 0) + 1);
  return [...counts].map(([l, n]) => (n > 1 ? `${l} ×${n}` : l)).join(", ");
}
