// Backward of LayerNorm without bias, optionally fused with adaLN modulate (docs/design.md, "adaLN
// conditioning"): x̂ = (x − μ)·rstd,   y = x̂ ⊙ w  [⊙ (1 + scale[b]) + shift[b]]
// `main`, one workgroup per row, recomputes μ and rstd from x exactly as the forward does
// (two-pass f32), then with g = dy [⊙ (1 + scale[b])] and n̂ = g ⊙ w (the gradient of x̂):
//   dx = rstd · (n̂ − mean(n̂) − x̂ · mean(n̂ ⊙ x̂))            (dx += … when ACC_DX)
// and stores x̂ for the column sums of the parameter gradients (done by col_sum).
// `params`, one invocation per column j, turns P[b, j] = Σ_s dy ⊙ x̂ into
//   dscale[b, j] (+)= w[j] · P[b, j]            (dy ⊙ LN(x) summed over the sequence)
//   dw[j]        (+)= Σ_b (1 + scale[b, j]) · P[b, j]
// summing over b in order, so the result is deterministic.
struct Params {
  rows: u32,
  width: u32,
  rows_per_batch: u32,
  scale_stride: u32,
  scale_off: u32,
  eps: f32,
  batch: u32,
  dscale_stride: u32,
  dscale_off: u32,
  accumulate: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> scale: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> xhat: array<f32>;
// `params` bindings: P [B, d] at 3, dw [d] at 5, the dscale gradient tensor at 6.
@group(0) @binding(3) var<storage, read> pb: array<f32>;
@group(0) @binding(5) var<storage, read_write> dw: array<f32>;
@group(0) @binding(6) var<storage, read_write> dscale: array<f32>;

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

// Gradient reaching x̂[row, j]: dy · (1 + scale[b]) · w.
fn grad_xhat(i: u32, j: u32, b: u32) -> f32 {
  var g = dy[i];
  if (HAS_MOD) { g *= 1.0 + scale[b * p.scale_stride + p.scale_off + j]; }
  return g * w[j];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  // Uniform per workgroup, so returning here keeps the barriers below in uniform control flow.
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.width;
  let n = f32(p.width);
  let b = row / p.rows_per_batch;

  var s = 0.0;
  for (var j = lid; j < p.width; j += WG) { s += x[base + j]; }
  let mean = workgroup_sum(s, lid) / n;
  var q = 0.0;
  for (var j = lid; j < p.width; j += WG) {
    let c = x[base + j] - mean;
    q += c * c;
  }
  let rstd = inverseSqrt(workgroup_sum(q, lid) / n + p.eps);

  var s1 = 0.0;
  var s2 = 0.0;
  for (var j = lid; j < p.width; j += WG) {
    let xh = (x[base + j] - mean) * rstd;
    let gn = grad_xhat(base + j, j, b);
    s1 += gn;
    s2 += gn * xh;
    xhat[base + j] = xh;
  }
  let m1 = workgroup_sum(s1, lid) / n;
  let m2 = workgroup_sum(s2, lid) / n;
  for (var j = lid; j < p.width; j += WG) {
    let i = base + j;
    let v = rstd * (grad_xhat(i, j, b) - m1 - xhat[i] * m2);
    if (ACC_DX) {
      dx[i] = dx[i] + v;
    } else {
      dx[i] = v;
    }
  }
}

@compute @workgroup_size(WG)
fn params(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
          @builtin(local_invocation_index) lid: u32) {
  let j = (wid.x + wid.y * nwg.x) * WG + lid;
  if (j >= p.width) { return; }
  var sw = 0.0;
  for (var b = 0u; b < p.batch; b++) {
    let pv = pb[b * p.width + j];
    sw += (1.0 + scale[b * p.scale_stride + p.scale_off + j]) * pv;
    let o = b * p.dscale_stride + p.dscale_off + j;
    if (p.accumulate != 0u) {
      dscale[o] = dscale[o] + w[j] * pv;
    } else {
      dscale[o] = w[j] * pv;
    }
  }
  if (p.accumulate != 0u) {
    dw[j] = dw[j] + sw;
  } else {
    dw[j] = sw;
  }
}
