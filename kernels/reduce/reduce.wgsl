// Reductions: sum (OP = 0) or max (OP = 1) of x, or of w ⊙ x when WEIGHTED, in two shapes:
//   main    — one workgroup per row of [rows, n]: out[r] = reduce_i x[r·n + i] / p.div
//   partial — stage 1 of a whole-tensor reduction: workgroup g of G reduces the elements
//             g·WG + lid + k·G·WG (a grid stride, so every lane reads memory in step) into
//             out[g]; stage 2 is `main` over the G partials as one row.
//
// Accumulation (sum): each lane adds its elements in chunks of CHUNK: a chunk is summed into a
// fresh partial, which is then added to the lane's total, so a lane's rounding error grows with
// CHUNK + count/CHUNK rather than with count. The WG lane totals are then merged by a
// pairwise tree in workgroup memory (log2 WG levels). No compensated (Kahan) summation: shader
// compilers may reassociate float adds and cancel the compensation term.
struct Params { rows: u32, n: u32, groups: u32, div: f32, init: f32, _p0: u32, _p1: u32, _p2: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const CHUNK = 32u;

var<workgroup> partials: array<f32, WG>;

fn combine(a: f32, b: f32) -> f32 {
  if (OP == 1) { return max(a, b); }
  return a + b;
}

fn value(i: u32) -> f32 {
  if (WEIGHTED) { return w[i] * x[i]; }
  return x[i];
}

// Reduces value(i) for i = start, start + stride, … < end, chunk by chunk.
fn lane_reduce(start: u32, end: u32, stride: u32) -> f32 {
  var total = p.init;
  var i = start;
  while (i < end) {
    var c = p.init;
    for (var k = 0u; k < CHUNK && i < end; k++) {
      c = combine(c, value(i));
      i += stride;
    }
    total = combine(total, c);
  }
  return total;
}

// Merges the lanes' values; every lane must call it (barriers). Returns the result to all.
fn workgroup_reduce(v: f32, lid: u32) -> f32 {
  partials[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k >>= 1u) {
    if (lid < k) { partials[lid] = combine(partials[lid], partials[lid + k]); }
    workgroupBarrier();
  }
  return partials[0];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.rows) { return; }
  let base = row * p.n;
  let r = workgroup_reduce(lane_reduce(base + lid, base + p.n, WG), lid);
  if (lid == 0u) { out[row] = r / p.div; }
}

@compute @workgroup_size(WG)
fn partial(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = wid.x;
  let r = workgroup_reduce(lane_reduce(g * WG + lid, p.n, p.groups * WG), lid);
  if (lid == 0u) { out[g] = r; }
}
