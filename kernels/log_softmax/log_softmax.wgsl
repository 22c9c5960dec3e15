// Log-softmax over the last axis of [rows, n]: y[r, i] = (v_i − m_r) − ln s_r = v_i − lse_r with
// v = x / T (see ../softmax/row_stats.wgsl, which the launcher appends). One
// workgroup per row; the grid may spread over y (grid1d). The masked column, and every −inf
// logit, gives −inf (log 0); a row with no finite logit gives −inf everywhere.
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
  // s ≥ 1 whenever the row has a finite logit (its max contributes exp(0)), so ln s is finite.
  // (v − m) − ln s rather than v − (m + ln s): with logits near 1e4 the sum m + ln s would be
  // rounded to an ulp of 1e4 (~1e-3) before the subtraction; v − m is exact for nearby v.
  let log_s = log(max(st.y, 1.0));
  let empty = st.y == 0.0;
  for (var i = lid; i < p.n; i += WG) {
    y[base + i] = select((row_value(base, i) - st.x) - log_s, p.neg_inf, empty);
  }
}
