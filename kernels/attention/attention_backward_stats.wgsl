// Attention backward, step 1: per (batch, head, query row) the two scalars both gradient
// passes need, stored as one vec2 so that they cost one binding and one load:
//   x = lse · log2(e)      (the forward's natural-log log-sum-exp, moved to the log2 domain
//                           the gradient kernels compute scores in, so p = exp2(s₂ − x))
//   y = Δ = Σ_lane dout · o (the softmax-backward correction, dp − Δ)
// One invocation per row; O(S·d) work, negligible next to the two O(S²·D) passes.

struct Params {
  total: u32, sq: u32, heads: u32, head_dim: u32,
  // Row stride of o and dout ([B, Sq, d], so d).
  row: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> ob: array<f32>;
@group(0) @binding(1) var<storage, read> gb: array<f32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<vec2f>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  // idx = (b·H + h)·Sq + i, the layout of lse and stats.
  let idx = (wid.x + wid.y * nwg.x) * WG + lid;
  if (idx >= p.total) { return; }
  let i = idx % p.sq;
  let bh = idx / p.sq;
  let h = bh % p.heads;
  let b = bh / p.heads;
  let base = (b * p.sq + i) * p.row + h * p.head_dim;
  var delta = 0.0;
  for (var c = 0u; c < p.head_dim; c++) {
    delta = fma(ob[base + c], gb[base + c], delta);
  }
  stats[idx] = vec2f(lse[idx] * 1.4426950408889634, delta);
}
