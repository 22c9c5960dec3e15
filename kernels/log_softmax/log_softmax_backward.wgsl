// Backward of the fused log-softmax + gather loss (logSoftmaxGather): for row r with target t_r,
// saved lse_r = logsumexp(x_r) and upstream weight w_r = dL/dloss_r,
//   dx[r, v] = w_r · (exp(x[r, v] − lse_r) − [v = t_r]),
// the gradient of w_r·(lse_r − x[r, t_r]). The excluded (mask) column is −inf in the forward, so
// its gradient is 0; an ignored row (t_r < 0) is all 0; t_r ≥ n gives a NaN row (the forward's
// loss is NaN there too). One invocation per element: the saved lse makes the row reduction of
// the forward unnecessary. The grid may spread over y (see grid1d).
// `main_inplace` overwrites the logits with their gradient (the [rows, V] logits are the largest
// activation of a training step): WebGPU refuses one buffer bound both read-only and writable,
// so that entry binds x once as read_write (`xio`, sharing binding 0 with `x`).
struct Params { total: u32, n: u32, mask_col: i32, nan: f32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(0) var<storage, read_write> xio: array<f32>;
@group(0) @binding(1) var<storage, read> target_ids: array<i32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

// The gradient of element i, whose logit is v.
fn grad(i: u32, v: f32) -> f32 {
  let row = i / p.n;
  let col = i % p.n;
  let t = target_ids[row];
  if (t < 0 || i32(col) == p.mask_col) { return 0.0; }
  if (t >= i32(p.n)) { return p.nan; }
  let onehot = select(0.0, 1.0, u32(t) == col);
  return w[row] * (exp(v - lse[row]) - onehot);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  dx[i] = grad(i, x[i]);
}

@compute @workgroup_size(WG)
fn main_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  xio[i] = grad(i, xio[i]);
}
