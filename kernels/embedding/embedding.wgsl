// Token embedding gather: out[r, j] = table[ids[r], j] for r over the B·S
// ids. An id outside [0, vocab) never indexes the table: its whole output row is NaN, so the
// mistake surfaces in every downstream value instead of silently reading another token.
// One invocation per output element; the grid may spread over y (see grid1d).
// A table too large for one storage binding is bound in blocks of rows [row0, row0 + rows):
// one dispatch per block writes the positions whose id falls in it, and the first dispatch
// (write_nan = 1) also writes the NaN rows of out-of-range ids.
struct Params {
  total: u32, width: u32, vocab: u32, nan_bits: u32,
  row0: u32, rows: u32, write_nan: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  let id = ids[i / p.width];
  if (id < 0 || u32(id) >= p.vocab) {
    // NaN comes from the uniforms: a NaN constant expression is a WGSL compile error.
    if (p.write_nan != 0u) { out[i] = bitcast<f32>(p.nan_bits); }
    return;
  }
  let row = u32(id) - p.row0;
  if (u32(id) < p.row0 || row >= p.rows) { return; }
  out[i] = table[row * p.width + i % p.width];
}
