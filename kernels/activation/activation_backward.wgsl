// Backward of the elementwise activations (activation.wgsl): dx = dy · f′(x [+ bias]).
// OP: 0 = GELU-tanh, 1 = SiLU. One invocation per element; the grid may spread over y.
// The bias gradient is the column sum of dx (done by col_sum after this kernel).
//
// Four entry points, one per binding set: with/without bias × separate output/in place. The
// in-place entries overwrite dy with dx through one read_write binding (`io`, sharing binding 2
// with `dy`, never used together): WebGPU rejects a buffer bound read-only and writable at once.
struct Params { total: u32, width: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> io: array<f32>;

// As in the forward, tanh is avoided: with s = sigmoid(2u) = 0.5·(1 + tanh u), 1 − tanh² u =
// 4s(1 − s), so for GELU f = v·s(u(v)):
//   f′ = s + v · 2s(1 − s) · √(2/π) · (1 + 3·0.044715·v²)
// and for SiLU (σ = sigmoid(v)) f′ = σ · (1 + v·(1 − σ)). exp overflow/underflow gives s = 0
// or 1 exactly; then s(1 − s) = 0 and the GELU tail is dropped explicitly, because v² (or v³
// inside u) may be inf there and 0 · inf would be NaN.
fn dact(v: f32) -> f32 {
  if (OP == 0) {
    let k = 0.7978845608028654; // √(2/π)
    let u = k * (v + 0.044715 * v * v * v);
    let s = 1.0 / (1.0 + exp(-2.0 * u));
    let q = s * (1.0 - s);
    let tail = 2.0 * v * q * k * (1.0 + 0.134145 * v * v);
    return s + select(tail, 0.0, q == 0.0);
  }
  let sg = 1.0 / (1.0 + exp(-v));
  return sg * (1.0 + v * (1.0 - sg));
}

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.total) { return; }
  dx[i] = dy[i] * dact(x[i]);
}

@compute @workgroup_size(WG)
fn main_bias(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.total) { return; }
  dx[i] = dy[i] * dact(x[i] + bias[i % p.width]);
}

@compute @workgroup_size(WG)
fn main_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.total) { return; }
  io[i] = io[i] * dact(x[i]);
}

@compute @workgroup_size(WG)
fn main_bias_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.total) { return; }
  io[i] = io[i] * dact(x[i] + bias[i % p.width]);
}
