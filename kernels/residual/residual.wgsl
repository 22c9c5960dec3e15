// Residual add with an optional adaLN gate, broadcast over the sequence:
//   out[b, s, j] = x[b, s, j] + (HAS_GATE ? gate[b, j] : 1) * y[b, s, j]
// The gate is a d-wide chunk of modulation rows [B, n·d]: gate[b, j] is element
// b * gate_stride + gate_off + j (stride d, offset 0 for a plain [B, d] gate).
// One invocation per element; the grid may spread over y (see grid1d).
// `main_inplace` updates x itself (the residual stream): WebGPU refuses one buffer bound both
// read-only and writable, so that entry binds x once as read_write (`xio`, sharing binding 0
// with `x`, which it never uses).
struct Params {
  total: u32,
  rows_per_batch: u32,
  width: u32,
  gate_stride: u32,
  gate_off: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(0) var<storage, read_write> xio: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn gate_at(i: u32) -> f32 {
  if (HAS_GATE) {
    let j = i % p.width;
    let b = i / (p.rows_per_batch * p.width);
    return gate[b * p.gate_stride + p.gate_off + j];
  }
  return 1.0;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  out[i] = x[i] + gate_at(i) * y[i];
}

@compute @workgroup_size(WG)
fn main_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  xio[i] = xio[i] + gate_at(i) * y[i];
}
