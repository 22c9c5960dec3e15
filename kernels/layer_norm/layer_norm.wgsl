// LayerNorm without bias over the last axis, optionally fused with adaLN modulate
// (docs/design.md, "adaLN conditioning"):
//   y = (x − μ) / sqrt(v + eps) ⊙ w            μ, v: mean and biased variance of the row
//   y = y ⊙ (1 + scale[b]) + shift[b]          when HAS_MOD, b = row div rows_per_batch
//   y = y + bias                               when HAS_BIAS (GPT-2's LayerNorm); the bias is
//                                              bound in the shift slot, which it then owns
// One workgroup per row. The statistics are two-pass in f32 (mean first, then the mean of
// squared deviations): E[x²] − μ² cancels catastrophically when |μ| ≫ σ, and re-reading the
// row is cheap next to that risk. Each invocation strides over the row, so any width works.
struct Params {
  rows: u32,
  width: u32,
  rows_per_batch: u32,
  shift_stride: u32,
  shift_off: u32,
  scale_stride: u32,
  scale_off: u32,
  eps: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> shift: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

var<workgroup> red: array<f32, WG>;

// Tree sum over the workgroup; every invocation gets the total. The trailing barrier keeps a
// fast invocation from overwriting red[] for the next reduction before all have read red[0].
fn workgroup_sum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  // Uniform per workgroup, so returning here keeps the barriers below in uniform control flow.
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.width;
  let n = f32(p.width);

  var s = 0.0;
  for (var j = lid; j < p.width; j += WG) { s += x[base + j]; }
  let mean = workgroup_sum(s, lid) / n;

  var q = 0.0;
  for (var j = lid; j < p.width; j += WG) {
    let c = x[base + j] - mean;
    q += c * c;
  }
  let rstd = inverseSqrt(workgroup_sum(q, lid) / n + p.eps);

  let b = row / p.rows_per_batch;
  for (var j = lid; j < p.width; j += WG) {
    var y = (x[base + j] - mean) * rstd * w[j];
    if (HAS_MOD) {
      y = y * (1.0 + scale[b * p.scale_stride + p.scale_off + j]) +
        shift[b * p.shift_stride + p.shift_off + j];
    }
    if (HAS_BIAS) { y += shift[j]; }
    out[base + j] = y;
  }
}
