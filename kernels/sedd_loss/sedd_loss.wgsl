// SEDD's absorbing-state score entropy (docs/design.md, "Losses") on raw logits l [rows, n] with
// the mask id m: log_score = l − ln expm1(σ) − ln(n − 1),  log_score[x_t] = 0,  q = 1/expm1(σ),
//   ℓ = dσ · (Σ_{v≠m} exp(log_score_v) − q·log_score[x0] + q(ln q − 1))  at x_t = m, else 0.
// Substituting exp(log_score_v) = q·exp(u_v) with u = l − ln(n − 1), and (for x0 ≠ m)
// log_score[x0] = u_x0 + ln q, the ln q terms cancel exactly:
//   ℓ = dσ·q · (Σ_{v∉{m, x0}} exp(u_v) + (exp(u_x0) − 1 − u_x0)),
// a sum of non-negative terms (e^u ≥ 1 + u), so nothing cancels in floating point however small
// the loss (a confident model) or σ (q ≈ 1/σ) is; e^u − 1 − u comes from its Taylor series near
// 0. For x0 = m (never in training) log_score[x0] = 0 and the tail is −ln expm1(σ) − 1 instead.
// exp(u_v) is summed without a max shift: every term is part of the (non-negative) result, so the
// sum only overflows when the loss itself exceeds f32.
// Gradient (log_score[m] is overwritten, so column m gets none):
//   dℓ/dl_v = dσ·q · (exp(u_v) − [v = x0]),  v ≠ m.
// σ and dσ are per group of p.per_sigma consecutive rows (per token, per block or per sequence).
// ln(n − 1) comes as an f32 pair hi + lo (hi = f32(ln(n − 1)), lo = the f32 of the rest), and
// u = (l − hi) − lo: when l ≈ hi (a confident model's x0 logit) l − hi is exact, so u keeps its
// own relative accuracy instead of inheriting an ulp of ln(n − 1) (which would be large next
// to e^u − 1 − u ≈ u²/2).
struct Params {
  rows: u32, n: u32, mask_id: i32, per_sigma: u32, log_vm1_hi: f32, log_vm1_lo: f32, nan: f32,
  _p0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xt: array<i32>;
@group(0) @binding(2) var<storage, read> x0: array<i32>;
@group(0) @binding(3) var<storage, read> sigma: array<f32>;
@group(0) @binding(4) var<storage, read> dsigma: array<f32>;
// forward: loss [rows]; backward: upstream weights dL/dℓ [rows]
@group(0) @binding(5) var<storage, read> w: array<f32>;
@group(0) @binding(5) var<storage, read_write> loss: array<f32>;
@group(0) @binding(6) var<storage, read> logits: array<f32>;
@group(0) @binding(6) var<storage, read_write> lio: array<f32>;
@group(0) @binding(7) var<storage, read_write> dlogits: array<f32>;

// u_v = l_v − ln(n − 1).
fn centred(l: f32) -> f32 {
  return (l - p.log_vm1_hi) - p.log_vm1_lo;
}

// expm1(s) for |s| < 0.5 by its Taylor series (Horner): exp(s) − 1 would lose ~log2(1/s) bits.
// The first omitted term is below 0.5^10/11! ≈ 2.4e-11 relative.
fn expm1_small(s: f32) -> f32 {
  var acc = 1.0;
  for (var k = 10.0; k >= 2.0; k -= 1.0) { acc = 1.0 + s / k * acc; }
  return s * acc;
}

// (q, ln expm1(σ)) with q = 1/expm1(σ), as the reference switches at σ = 0.5: below it the
// series, above it e = exp(−σ), expm1(σ) = (1 − e)/e, so q = e/(1 − e) underflows gracefully
// for large σ instead of overflowing expm1.
fn sigma_terms(s: f32) -> vec2f {
  if (s < 0.5) {
    let em1 = expm1_small(s);
    return vec2f(1.0 / em1, log(em1));
  }
  let e = exp(-s);
  return vec2f(e / (1.0 - e), s + log(1.0 - e));
}

// e^u − 1 − u ≥ 0: the Taylor series u²/2! + u³/3! + … for |u| < 1 (where the direct form
// cancels), else the direct form (its terms then differ by at most a factor of ~6).
fn exp_m1_mx(u: f32) -> f32 {
  if (abs(u) < 1.0) {
    var acc = 1.0;
    for (var k = 14.0; k >= 3.0; k -= 1.0) { acc = 1.0 + u / k * acc; }
    return 0.5 * u * u * acc;
  }
  return exp(u) - 1.0 - u;
}

var<workgroup> partial: array<f32, WG>;

// One workgroup per row.
@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
           @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  // Both tests are uniform over the workgroup, so the early returns keep the barriers uniform.
  if (xt[row] != p.mask_id) {
    if (lid == 0u) { loss[row] = 0.0; }
    return;
  }
  let tgt = x0[row];
  if (tgt < 0 || tgt >= i32(p.n)) {
    if (lid == 0u) { loss[row] = p.nan; }
    return;
  }
  let base = row * p.n;
  var s = 0.0;
  for (var v = lid; v < p.n; v += WG) {
    let skip = i32(v) == p.mask_id || i32(v) == tgt;
    s += select(exp(centred(logits[base + v])), 0.0, skip);
  }
  partial[lid] = s;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { partial[lid] += partial[lid + k]; }
    workgroupBarrier();
  }
  if (lid != 0u) { return; }
  let g = row / p.per_sigma;
  let st = sigma_terms(sigma[g]);
  var tail = -st.y - 1.0;
  if (tgt != p.mask_id) { tail = exp_m1_mx(centred(logits[base + u32(tgt)])); }
  loss[row] = dsigma[g] * st.x * (partial[0] + tail);
}

// dℓ/dl scaled by the row's upstream weight, for element i whose logit is l.
fn grad(i: u32, l: f32) -> f32 {
  let row = i / p.n;
  let col = i32(i % p.n);
  if (xt[row] != p.mask_id || col == p.mask_id) { return 0.0; }
  let tgt = x0[row];
  if (tgt < 0 || tgt >= i32(p.n)) { return p.nan; }
  let g = row / p.per_sigma;
  let coef = w[row] * dsigma[g] * sigma_terms(sigma[g]).x;
  let u = centred(l);
  // At x0 the gradient is e^u − 1, which cancels for a confident model (u ≈ 0): the series.
  if (col == tgt && abs(u) < 0.5) { return coef * expm1_small(u); }
  return coef * (exp(u) - select(0.0, 1.0, col == tgt));
}

// One invocation per element; the grid may spread over y (see grid1d).
@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
            @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.rows * p.n) { return; }
  dlogits[i] = grad(i, logits[i]);
}

// The same, overwriting the logits with their gradient (`lio` binds them once as read_write:
// WebGPU refuses one buffer bound both read-only and writable).
@compute @workgroup_size(WG)
fn backward_inplace(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
                    @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.rows * p.n) { return; }
  lio[i] = grad(i, lio[i]);
}
