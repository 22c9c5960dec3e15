// Elementwise activations: GELU with the tanh approximation (PyTorch approximate='tanh',
// in the MLP) and SiLU (timestep embedder, cvec), optionally after adding a bias over the last
// axis.
// OP: 0 = GELU-tanh, 1 = SiLU. One invocation per element; the grid may spread over y.
//
// Four entry points, one per binding set: with/without bias × separate output/in place. WebGPU
// rejects a buffer bound both read-only and writable in one dispatch, so the in-place entries
// read and write one read_write binding (`io`). Variables that share a binding number (`x`/`io`,
// `out`/`bias_io`) are never used by the same entry point, which WGSL allows.
struct Params { total: u32, width: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(1) var<storage, read_write> io: array<f32>;
@group(0) @binding(2) var<storage, read> bias_io: array<f32>;

// Both activations are v·sigmoid(z): 0.5·(1 + tanh(u)) = sigmoid(2u). Writing them as
// v / (1 + exp(−z)) avoids tanh(), which some drivers build from exp ratios that give inf/inf
// = NaN for large |u|; here exp overflow to +inf yields v / inf = −0 (the exact limit) and
// exp underflow to 0 yields v.
fn act(v: f32) -> f32 {
  if (OP == 0) {
    let u = 0.7978845608028654 * (v + 0.044715 * v * v * v); // √(2/π)·(v + 0.044715·v³)
    return v / (1.0 + exp(-2.0 * u));
  }
  return v / (1.0 + exp(-v));
}

fn index(wid: vec3u, nwg: vec3u, lid: u32) -> u32 {
  return (wid.x + wid.y * nwg.x) * WG + lid;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.total) { return; }
  out[i] = act(x[i]);
}

@compute @workgroup_size(WG)
fn main_bias(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
             @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.total) { return; }
  out[i] = act(x[i] + bias[i % p.width]);
}

@compute @workgroup_size(WG)
fn main_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.total) { return; }
  io[i] = act(io[i]);
}

@compute @workgroup_size(WG)
fn main_bias_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                     @builtin(local_invocation_index) lid: u32) {
  let i = index(wid, nwg, lid);
  if (i >= p.total) { return; }
  io[i] = act(io[i] + bias_io[i % p.width]);
}
