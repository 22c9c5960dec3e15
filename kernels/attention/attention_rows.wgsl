enable subgroups;
// Attention for a few query rows against many keys (sampling with a KV cache) on CPU drivers.
// The tiled kernel (attention.wgsl) puts query rows on the lanes: with 4 rows and 8-lane SIMD
// half the lanes idle and every key is fetched once per lane. Here one workgroup of 8 lanes
// (one subgroup on lavapipe) serves one query row of one head: the lanes split the head
// dimension, lane l owning vec4 columns l, l + 8, …, so a key's row is read as one contiguous
// 128-byte span per 8 vec4s, the dot product is finished with one subgroupAdd, and the online
// softmax runs on that (uniform) score. Needs subgroups of at least 8 lanes and vec4-aligned
// operands (the launcher checks); masks "full" / "cached" only (every key visible).
struct Params {
  sq: u32, sk: u32, heads: u32, d4: u32,
  q_off: u32, q_row: u32, q_batch: u32, q_head: u32,
  k_off: u32, k_row: u32, k_batch: u32, k_head: u32,
  v_off: u32, v_row: u32, v_batch: u32, v_head: u32,
  o_row: u32, o_head: u32, qscale: f32, per_lane: u32,
}

@group(0) @binding(0) var<storage, read> qb: array<vec4f>;
@group(0) @binding(1) var<storage, read> kb: array<vec4f>;
@group(0) @binding(2) var<storage, read> vb: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> ob: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

const LANES = 8u;
const NEG = -3.0e38;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_index) lane: u32) {
  let row = wid.x;
  let h = wid.y;
  let b = wid.z;
  let qbase = p.q_off + b * p.q_batch + row * p.q_row + h * p.q_head;
  let kbase = p.k_off + b * p.k_batch + h * p.k_head;
  let vbase = p.v_off + b * p.v_batch + h * p.v_head;
  // This lane's columns: lane + 8t for t < per_lane (columns past d4 read as zero).
  var q: array<vec4f, MAXT>;
  var o: array<vec4f, MAXT>;
  for (var t = 0u; t < p.per_lane; t++) {
    let c = lane + LANES * t;
    q[t] = select(vec4f(0.0), qb[qbase + min(c, p.d4 - 1u)] * p.qscale, c < p.d4);
    o[t] = vec4f(0.0);
  }
  var m = NEG;
  var l = 0.0;
  // Four keys per step: four independent dot products, one rescale of the output.
  let last = p.sk - 1u;
  for (var j0 = 0u; j0 < p.sk; j0 += 4u) {
    let jj = min(vec4u(j0) + vec4u(0u, 1u, 2u, 3u), vec4u(last));
    var part = vec4f(0.0);
    for (var t = 0u; t < p.per_lane; t++) {
      let c = min(lane + LANES * t, p.d4 - 1u);
      let qt = q[t];
      part += vec4f(
        dot(qt, kb[kbase + jj.x * p.k_row + c]),
        dot(qt, kb[kbase + jj.y * p.k_row + c]),
        dot(qt, kb[kbase + jj.z * p.k_row + c]),
        dot(qt, kb[kbase + jj.w * p.k_row + c]),
      );
    }
    let vis = (vec4u(j0) + vec4u(0u, 1u, 2u, 3u)) < vec4u(p.sk);
    let s = select(vec4f(NEG), subgroupAdd(part), vis);
    let mn = max(m, max(max(s.x, s.y), max(s.z, s.w)));
    let alpha = exp2(m - mn);
    let pr = select(vec4f(0.0), exp2(s - vec4f(mn)), vis);
    l = l * alpha + dot(pr, vec4f(1.0));
    m = mn;
    for (var t = 0u; t < p.per_lane; t++) {
      let c = min(lane + LANES * t, p.d4 - 1u);
      var acc = o[t] * alpha;
      acc = fma(vec4f(pr.x), vb[vbase + jj.x * p.v_row + c], acc);
      acc = fma(vec4f(pr.y), vb[vbase + jj.y * p.v_row + c], acc);
      acc = fma(vec4f(pr.z), vb[vbase + jj.z * p.v_row + c], acc);
      o[t] = fma(vec4f(pr.w), vb[vbase + jj.w * p.v_row + c], acc);
    }
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  let obase = (b * p.sq + row) * p.o_row + h * p.o_head;
  for (var t = 0u; t < p.per_lane; t++) {
    let c = lane + LANES * t;
    if (c < p.d4) { ob[obase + c] = o[t] * inv; }
  }
  if (HAS_LSE && lane == 0u) {
    lse[(b * p.heads + h) * p.sq + row] = (m + log2(l)) * 0.6931471805599453;
  }
}
