// Softmax over the last axis of [rows, n]: y[r, i] = exp(v_i − m_r) / s_r with v = x / T
// (see row_stats.wgsl, which the launcher appends). One workgroup per row; the grid may spread
// over y (grid1d). A row with no finite logit (s = 0) gives zeros rather than 0/0.
struct Params { rows: u32, n: u32, mask_col: i32, scale: f32, neg_inf: f32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.n;
  let st = row_stats(base, lid);
  let mc = max(st.x, -ROW_FLT_MAX);
  let inv = select(0.0, 1.0 / st.y, st.y > 0.0);
  for (var i = lid; i < p.n; i += WG) {
    y[base + i] = exp(row_value(base, i) - mc) * inv;
  }
}
