/**
 * What the adapter can do at best, so kernel numbers can be read as fractions of it: the pure
 * vec4 multiply-add rate (no memory traffic), buffer-to-buffer copy bandwidth, the rate at which
 * a shader streams a buffer (the bound of every weight-reading GEMV) and the cost of one
 * dispatch inside a batched submission.
 * @module
 */
import type { Gpu } from "@blockdiff/core";
import { emit, timeGpu } from "../harness.ts";

// Eight independent vec4 accumulators per invocation hide the FMA latency; the trip count is a
// uniform and the result is stored, so the compiler can neither fold nor drop the loop.
const FMA_WGSL = `
struct P { iters: u32, seed: f32, _a: u32, _b: u32 }
@group(0) @binding(0) var<storage, read_write> sink: array<vec4f>;
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let x = vec4f(f32(gid.x) * 1e-9 + p.seed);
  let y = vec4f(0.999999);
  var s0 = x; var s1 = x + 1.0; var s2 = x + 2.0; var s3 = x + 3.0;
  var s4 = x + 4.0; var s5 = x + 5.0; var s6 = x + 6.0; var s7 = x + 7.0;
  for (var i = 0u; i < p.iters; i++) {
    s0 = fma(s0, y, x); s1 = fma(s1, y, x); s2 = fma(s2, y, x); s3 = fma(s3, y, x);
    s4 = fma(s4, y, x); s5 = fma(s5, y, x); s6 = fma(s6, y, x); s7 = fma(s7, y, x);
  }
  sink[gid.x] = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}`;

// Streams a buffer through a shader, the way a GEMV reads a weight matrix: each invocation sums
// its own contiguous run of vec4s (ROW: the pattern of one invocation per weight row) or the
// lanes of a workgroup read neighbouring vec4s (interleaved: the coalesced GPU pattern).
const READ_WGSL = (row: boolean) => `
struct P { perInv: u32, total: u32, _a: u32, _b: u32 }
@group(0) @binding(0) var<storage, read> src: array<vec4f>;
@group(0) @binding(1) var<storage, read_write> sink: array<vec4f>;
@group(0) @binding(2) var<uniform> p: P;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  var s = vec4f(0.0);
  let invs = nw.x * 64u;
  for (var i = 0u; i < p.perInv; i++) {
    ${row ? "s += src[gid.x * p.perInv + i];" : "s += src[i * invs + gid.x];"}
  }
  sink[gid.x] = s;
}`;

const NOOP_WGSL = `
@group(0) @binding(0) var<storage, read_write> sink: array<u32>;
@compute @workgroup_size(1)
fn main() { sink[0] = sink[0] + 1u; }`;

/**
 * Measures the FMA ceiling (GFLOP/s), copy bandwidth (GB/s of data copied, i.e. each byte
 * read once and written once) and per-dispatch overhead (µs, 200 dispatches in one
 * submission), printing one JSON line for each.
 */
export async function benchCeiling(
  gpu: Gpu,
): Promise<{ fmaGflops: number; copyGbps: number; readGbps: number; dispatchUs: number }> {
  const device = gpu.device;
  const groups = gpu.info.isSoftware ? 64 : 4096;
  const iters = gpu.info.isSoftware ? 4096 : 65536;
  const sink = device.createBuffer({ size: groups * 64 * 16, usage: GPUBufferUsage.STORAGE });
  const fma = await gpu.compile({
    name: "ceiling_fma",
    code: FMA_WGSL,
    bindings: ["write", "uniform"],
  });
  const u = new Float32Array(4);
  new Uint32Array(u.buffer)[0] = iters;
  u[1] = 0.5;
  const fmaMs = await timeGpu(gpu, () => gpu.dispatch(fma, [{ buffer: sink }], u, [groups]), {
    warmup: 1,
    iters: 5,
  });
  const flops = groups * 64 * iters * 8 * 4 * 2;
  const fmaGflops = flops / fmaMs / 1e6;
  emit({
    bench: "ceiling",
    case: "vec4 fma",
    ms: fmaMs,
    gflops: fmaGflops,
    adapter: gpu.info.name,
  });

  const bytes = 64 << 20;
  const usage = GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const src = device.createBuffer({ size: bytes, usage });
  const dst = device.createBuffer({ size: bytes, usage });
  const copyMs = await timeGpu(gpu, () => gpu.copy(src, 0, dst, 0, bytes), { iters: 5 });
  const copyGbps = bytes / copyMs / 1e6;
  emit({ bench: "ceiling", case: "buffer copy 64 MiB", ms: copyMs, gbps: copyGbps });

  // What a shader can read: 64 MiB summed by 16384 invocations, in both access patterns.
  const readSrc = device.createBuffer({ size: bytes, usage: GPUBufferUsage.STORAGE });
  const invocations = 16384;
  const readSink = device.createBuffer({ size: invocations * 16, usage: GPUBufferUsage.STORAGE });
  const ru = new Uint32Array([bytes / 16 / invocations, bytes / 16, 0, 0]);
  let readGbps = 0;
  for (const row of [true, false]) {
    const k = await gpu.compile({
      name: row ? "ceiling_read_rows" : "ceiling_read_interleaved",
      code: READ_WGSL(row),
      bindings: ["read", "write", "uniform"],
    });
    const ms = await timeGpu(
      gpu,
      () => gpu.dispatch(k, [{ buffer: readSrc }, { buffer: readSink }], ru, [invocations / 64]),
      { iters: 5 },
    );
    const gbps = bytes / ms / 1e6;
    readGbps = Math.max(readGbps, gbps);
    emit({
      bench: "ceiling",
      case: `shader read 64 MiB (${row ? "a row per invocation" : "interleaved lanes"})`,
      ms,
      gbps,
    });
  }
  readSrc.destroy();
  readSink.destroy();

  // Overhead per dispatch: 200 trivial dispatches in one submission, less one submission of 1.
  const noop = await gpu.compile({ name: "ceiling_noop", code: NOOP_WGSL, bindings: ["write"] });
  const counter = device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  const one = await timeGpu(gpu, () => gpu.dispatch(noop, [{ buffer: counter }], null, [1]), {
    iters: 9,
  });
  const many = await timeGpu(gpu, () => {
    for (let i = 0; i < 200; i++) gpu.dispatch(noop, [{ buffer: counter }], null, [1]);
  }, { iters: 5 });
  const dispatchUs = ((many - one) / 199) * 1000;
  emit({
    bench: "ceiling",
    case: "dispatch overhead",
    ms: many,
    us_per_dispatch: dispatchUs,
    submit_ms: one,
  });

  for (const b of [sink, src, dst, counter]) b.destroy();
  return { fmaGflops, copyGbps, readGbps, dispatchUs };
}
