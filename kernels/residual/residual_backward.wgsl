// Branch gradient of the gated residual out = x + gate[b] ⊙ y:
//   dy[b, s, j] = gate[b, j] · dout[b, s, j]
// (dx = dout needs no kernel; dgate[b] = Σ_s dout ⊙ y is a column sum, done by col_sum).
// The gate is a d-wide chunk of modulation rows [B, n·d]: gate[b, j] is element
// b * gate_stride + gate_off + j. One invocation per element; the grid may spread over y.
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

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> dout: array<f32>;
@group(0) @binding(3) var<storage, read_write> dy: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  let j = i % p.width;
  let b = i / (p.rows_per_batch * p.width);
  dy[i] = gate[b * p.gate_stride + p.gate_off + j] * dout[i];
}
