// Rotary position embedding, rotate-half pairing (docs/design.md, "Rotary"), in place on the q and
// k slots of a qkv tensor [B, S, 3d] (feature f: slot f div d, head (f mod d) div D, lane f mod D;
// the v slot is untouched). For lane j < D/2 of a head at position p:
//   y_j       = x_j · cos θ − x_{j+D/2} · sin θ
//   y_{j+D/2} = x_{j+D/2} · cos θ + x_j · sin θ,        θ = θ[p, j]
// Position of sequence row s: p = offset + (s mod period). cos/sin come from a host-built
// table [n, D/2] of (cos, sin) pairs indexed by |p|; a negative p uses θ[−p] = −θ[p]
// (cos even, sin odd), which is exact because θ is a product p · inv_freq.
// INVERSE rotates by −θ instead: the backward, since the gradient of an orthogonal map
// y = R(θ)·x is dx = R(θ)ᵀ·dy = R(−θ)·dy.
// One invocation per rotated pair: rows · d pairs (d/2 in q, d/2 in k).
struct Params {
  pairs: u32,
  seq: u32,
  width: u32,
  half_dim: u32,
  period: u32,
  offset: i32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> qkv: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.x + wid.y * nwg.x) * WG + lid;
  if (i >= p.pairs) { return; }
  let row = i / p.width;
  let r = i % p.width;               // pair index within the row: q pairs, then k pairs
  let slot_pairs = p.width / 2u;     // = heads · D/2
  let slot = r / slot_pairs;         // 0 = q, 1 = k
  let w = r % slot_pairs;
  let head = w / p.half_dim;
  let j = w % p.half_dim;
  let lo = row * 3u * p.width + slot * p.width + head * 2u * p.half_dim + j;
  let hi = lo + p.half_dim;

  let pos = p.offset + i32((row % p.seq) % p.period);
  let cs = table[u32(abs(pos)) * p.half_dim + j];
  let c = cs.x;
  let s = select(cs.y, -cs.y, (pos < 0) != INVERSE);

  let a = qkv[lo];
  let b = qkv[hi];
  qkv[lo] = a * c - b * s;
  qkv[hi] = b * c + a * s;
}
