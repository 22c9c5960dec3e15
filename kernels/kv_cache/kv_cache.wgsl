// KV-cache kernels. Both entry points share one binding layout (sources, destinations, a
// cos/sin table, params) so the cache binds at most five storage buffers per dispatch.
//
// write_rows: copies n rows of keys and values from strided views (typically the k and v slots
//   of a post-rotary qkv projection [B, n, 3d]) into the cache [B, W, d] at rows [at, at + n).
// slide: drops the oldest `shift` rows: dst[b, i] = src[b, i + shift] for i < keep. Cached keys
//   are post-rotary, so each kept key is also rotated by −shift positions (rotate-half pairs
//   (j, j + D/2) of every head, angle −shift·inv_freq_j from the table) to carry the
//   window-relative position the reference gives it. Sources and destinations are different
//   buffers (ping-pong): rows overlap, and a copy within one buffer may not.
struct Params {
  total: u32, rows: u32, width: u32, cap: u32,
  at: u32, shift: u32, head_dim: u32, _p0: u32,
  k_off: u32, k_row: u32, k_batch: u32, _p1: u32,
  v_off: u32, v_row: u32, v_batch: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> src_k: array<f32>;
@group(0) @binding(1) var<storage, read> src_v: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst_k: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst_v: array<f32>;
// (cos, sin) of the rotation angle per frequency j < D/2 (slide only).
@group(0) @binding(4) var<storage, read> rot: array<vec2f>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn write_rows(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
              @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  let f = i % p.width;
  let r = (i / p.width) % p.rows;
  let b = i / (p.width * p.rows);
  let dst = (b * p.cap + p.at + r) * p.width + f;
  dst_k[dst] = src_k[p.k_off + b * p.k_batch + r * p.k_row + f];
  dst_v[dst] = src_v[p.v_off + b * p.v_batch + r * p.v_row + f];
}

// One invocation per rotary pair: (b, kept row i, head h, j < D/2).
@compute @workgroup_size(WG)
fn slide(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
         @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.total) { return; }
  let half = p.head_dim / 2u;
  let pairs = p.width / 2u;
  let e = i % pairs;
  let h = e / half;
  let j = e % half;
  let r = (i / pairs) % p.rows;
  let b = i / (pairs * p.rows);
  let lo = h * p.head_dim + j;
  let src_at = (b * p.cap + r + p.shift) * p.width + lo;
  let dst_at = (b * p.cap + r) * p.width + lo;
  let cs = rot[j];
  let x1 = src_k[src_at];
  let x2 = src_k[src_at + half];
  dst_k[dst_at] = x1 * cs.x - x2 * cs.y;
  dst_k[dst_at + half] = x2 * cs.x + x1 * cs.y;
  dst_v[dst_at] = src_v[src_at];
  dst_v[dst_at + half] = src_v[src_at + half];
}
