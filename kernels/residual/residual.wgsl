// Residual add with an optional adaLN gate, broadcast over the sequence:
//   out[b, s, j] = x[b, s, j] + (HAS_GATE ? gate[b, j] : 1) * y[b, s, j]
// One invocation per element; the grid may spread over y (see grid1d).
struct Params { total: u32, rows_per_batch: u32, width: u32, _pad: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  var g = 1.0;
  if (HAS_GATE) {
    let j = i % p.width;
    let b = i / (p.rows_per_batch * p.width);
    g = gate[b * p.width + j];
  }
  out[i] = x[i] + g * y[i];
}
