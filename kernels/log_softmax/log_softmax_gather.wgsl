// Fused log-softmax + gather (the per-token cross-entropy): for row r with target t_r,
//   loss[r] = lse_r − x[r, t_r] = −log softmax(x_r)[t_r],   lse[r] = ln Σ_i exp(x[r, i]),
// without writing the log-softmax table. Row statistics come from ../softmax/row_stats.wgsl
// (appended by the launcher); the masked column counts as −inf.
//   t_r < 0 (ignore index)        → loss 0 (lse is still written, for the backward)
//   t_r = mask column             → loss +inf (the target has probability 0)
//   t_r ≥ n                       → loss NaN, so an out-of-range id is loud, not a silent clamp
//   row with no finite logit      → lse −inf, loss +inf (0 for an ignored row)
struct Params {
  rows: u32, n: u32, mask_col: i32, scale: f32, neg_inf: f32, nan: f32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> target_ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
@group(0) @binding(3) var<storage, read_write> lse_out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.n;
  let st = row_stats(base, lid);
  if (lid != 0u) { return; }
  let empty = st.y == 0.0;
  let log_s = log(max(st.y, 1.0));
  lse_out[row] = select(st.x + log_s, p.neg_inf, empty);
  let t = target_ids[row];
  var l = 0.0;
  if (t >= i32(p.n)) {
    l = p.nan;
  } else if (t >= 0) {
    // (m − v_t) + ln s, not lse − v_t: for logits near 1e4, lse is only known to an ulp of
    // 1e4 (~1e-3), while m − v_t is exact for nearby values. A −inf target logit gives +inf,
    // the loss of a probability-0 target; so does a row without finite logits (−(−inf)).
    l = select((st.x - row_value(base, u32(t))) + log_s, -p.neg_inf, empty);
  }
  loss[row] = l;
}
