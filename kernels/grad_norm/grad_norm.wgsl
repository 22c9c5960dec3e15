// Global gradient L2 norm without readback, in two kinds of dispatch:
//   partial  — for one gradient tensor, workgroup g of G writes Σ x² over its elements
//              g·WG + lid + k·G·WG (a grid stride) into dst[p.slot + g]: each tensor owns a
//              range of slots of one small buffer, so no slot is written twice and no atomics
//              are needed (the sum, and so the whole step, is bit-reproducible).
//   finalize — one workgroup sums the p.count slots and writes dst = [norm, clip] with
//              norm = √Σ and clip = min(1, max_norm / (norm + 1e-6)) (clip_grad_norm_).
// Accumulation as in ../reduce/reduce.wgsl: chunks of CHUNK per lane, then a pairwise tree, so
// the rounding error grows with CHUNK + count/CHUNK + log2 WG rather than with count.
struct Params { total: u32, groups: u32, slot: u32, max_norm: f32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

const CHUNK = 32u;

var<workgroup> partials: array<f32, WG>;

// Σ f(src[i]) for i = start, start + stride, … < end, with f = square or identity.
fn lane_sum(start: u32, end: u32, stride: u32, square: bool) -> f32 {
  var total = 0.0;
  var i = start;
  while (i < end) {
    var c = 0.0;
    for (var k = 0u; k < CHUNK && i < end; k++) {
      let x = src[i];
      c += select(x, x * x, square);
      i += stride;
    }
    total += c;
  }
  return total;
}

// Pairwise tree over the lanes; every lane must call it (barriers).
fn workgroup_sum(v: f32, lid: u32) -> f32 {
  partials[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { partials[lid] += partials[lid + k]; }
    workgroupBarrier();
  }
  return partials[0];
}

@compute @workgroup_size(WG)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let s = workgroup_sum(lane_sum(wid.x * WG + lid, p.total, p.groups * WG, true), lid);
  if (lid == 0u) { dst[p.slot + wid.x] = s; }
}

@compute @workgroup_size(WG)
fn finalize(@builtin(local_invocation_index) lid: u32) {
  let s = workgroup_sum(lane_sum(lid, p.total, WG, false), lid);
  if (lid == 0u) {
    let norm = sqrt(s);
    dst[0] = norm;
    dst[1] = min(1.0, p.max_norm / (norm + 1e-6));
  }
}
